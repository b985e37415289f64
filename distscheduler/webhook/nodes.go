package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	admissionclient "k8s.io/client-go/kubernetes/typed/admissionregistration/v1"
	"k8s.io/utils/ptr"
)

// NodePath is where the node admission webhook is served: it gives a node
// being created its shard label, so the node needs no second write.
const NodePath = "/mutate-nodes"

// reviewBody reads and decodes an AdmissionReview request, answering the
// client itself when it cannot.
func reviewBody(w http.ResponseWriter, r *http.Request) (*admissionv1.AdmissionReview, bool) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST an AdmissionReview", http.StatusMethodNotAllowed)
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		http.Error(w, "request body unreadable or larger than "+strconv.Itoa(maxBody)+" bytes", http.StatusBadRequest)
		return nil, false
	}
	var rev admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &rev); err != nil || rev.Request == nil {
		http.Error(w, "not an admission.k8s.io/v1 AdmissionReview", http.StatusBadRequest)
		return nil, false
	}
	return &rev, true
}

// answer writes resp (UID and Allowed set by the caller) as the reply to rev.
func (s *Server) answer(w http.ResponseWriter, rev *admissionv1.AdmissionReview, resp *admissionv1.AdmissionResponse) {
	out := admissionv1.AdmissionReview{TypeMeta: rev.TypeMeta, Response: resp}
	if out.APIVersion == "" {
		out.APIVersion, out.Kind = "admission.k8s.io/v1", "AdmissionReview"
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(&out); err != nil {
		s.cfg.Log.Debug().Err(err).Msg("write admission response")
	}
}

// reviewNode answers one node AdmissionReview: always allowed; a node the
// shard controller takes gets a JSON patch adding its shard label.
func (s *Server) reviewNode(w http.ResponseWriter, r *http.Request) {
	rev, ok := reviewBody(w, r)
	if !ok {
		s.nodes.WithLabelValues("malformed").Inc()
		return
	}
	resp := &admissionv1.AdmissionResponse{UID: rev.Request.UID, Allowed: true}
	patch, result := s.nodePatch(rev.Request)
	if patch != nil {
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = patch, &pt
	}
	s.nodes.WithLabelValues(result).Inc()
	s.answer(w, rev, resp)
}

func (s *Server) nodePatch(req *admissionv1.AdmissionRequest) ([]byte, string) {
	if req.Operation != admissionv1.Create || req.Kind.Kind != "Node" || req.SubResource != "" || s.cfg.AssignNode == nil {
		return nil, "ignored"
	}
	var node v1.Node
	if err := json.Unmarshal(req.Object.Raw, &node); err != nil {
		return nil, "malformed"
	}
	if _, has := node.Labels[s.cfg.ShardLabel]; has {
		return nil, "ignored"
	}
	member, ok := s.cfg.AssignNode(node.Name, node.Labels)
	if !ok {
		return nil, "ignored"
	}
	var op any
	if node.Labels == nil {
		op = map[string]any{"op": "add", "path": "/metadata/labels", "value": map[string]string{s.cfg.ShardLabel: member}}
	} else {
		// JSON pointer escaping (RFC 6901) of the label key.
		key := strings.NewReplacer("~", "~0", "/", "~1").Replace(s.cfg.ShardLabel)
		op = map[string]any{"op": "add", "path": "/metadata/labels/" + key, "value": member}
	}
	patch, err := json.Marshal([]any{op})
	if err != nil {
		return nil, "malformed"
	}
	return patch, "labelled"
}

// NodeRegistration is the cluster's MutatingWebhookConfiguration for the
// node webhook.
type NodeRegistration struct {
	// Name of the MutatingWebhookConfiguration.
	Name string
	// URL and CABundle: the serving leader's (Server.NodeURL, Server.CABundle).
	URL      string
	CABundle []byte
	// ShardLabel: nodes that already carry it are not sent to the webhook.
	ShardLabel string
	// NodeSelector limits the calls to nodes the shard controller takes
	// (--node-selector, label selector syntax; empty: every node).
	NodeSelector string
	// TimeoutSeconds bounds how long the API server waits (1-30).
	TimeoutSeconds int32
}

// RegisterNodes creates or replaces the node webhook's configuration; the
// leader calls it when it takes the Lease.
func RegisterNodes(ctx context.Context, c admissionclient.MutatingWebhookConfigurationInterface, reg NodeRegistration) error {
	want, err := reg.object()
	if err != nil {
		return err
	}
	return createOrReplace(ctx, c, "MutatingWebhookConfiguration", want)
}

func (reg NodeRegistration) object() (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	sel, err := metav1.ParseToLabelSelector(reg.NodeSelector)
	if err != nil {
		return nil, fmt.Errorf("node selector %q: %w", reg.NodeSelector, err)
	}
	sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
		Key: reg.ShardLabel, Operator: metav1.LabelSelectorOpDoesNotExist,
	})
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: configMeta(reg.Name),
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "nodes." + reg.Name + ".k8s1m.io",
			ClientConfig:            clientConfig(reg.URL, reg.CABundle),
			Rules:                   onCreate("nodes", admissionregistrationv1.ClusterScope),
			ObjectSelector:          sel,
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.NeverReinvocationPolicy),
			TimeoutSeconds:          timeoutSeconds(reg.TimeoutSeconds),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}, nil
}
