package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	admissionclient "k8s.io/client-go/kubernetes/typed/admissionregistration/v1"
	"k8s.io/utils/ptr"
)

// NodePath is where the node admission webhook is served: it gives a node
// being created its shard label, so the node needs no second write.
const NodePath = "/mutate-nodes"

// readBody reads a POSTed AdmissionReview's bytes, answering the client
// itself when it cannot.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST an AdmissionReview", http.StatusMethodNotAllowed)
		return nil, false
	}
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 && n <= maxBody {
		buf.Grow(int(n) + bytes.MinRead) // one allocation for the whole body
	}
	_, err := buf.ReadFrom(io.LimitReader(r.Body, maxBody+1))
	if err != nil || buf.Len() > maxBody {
		http.Error(w, "request body unreadable or larger than "+strconv.Itoa(maxBody)+" bytes", http.StatusBadRequest)
		return nil, false
	}
	return buf.Bytes(), true
}

// reviewBody reads and decodes a whole AdmissionReview request, answering
// the client itself when it cannot.
func reviewBody(w http.ResponseWriter, r *http.Request) (*admissionv1.AdmissionReview, bool) {
	body, ok := readBody(w, r)
	if !ok {
		return nil, false
	}
	var rev admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &rev); err != nil || rev.Request == nil {
		http.Error(w, "not an admission.k8s.io/v1 AdmissionReview", http.StatusBadRequest)
		return nil, false
	}
	return &rev, true
}

// answer writes resp (UID and Allowed set by the caller) as the reply to a
// review of type tm.
func (s *Server) answer(w http.ResponseWriter, tm metav1.TypeMeta, resp *admissionv1.AdmissionResponse) {
	out := admissionv1.AdmissionReview{TypeMeta: tm, Response: resp}
	if out.APIVersion == "" {
		out.APIVersion, out.Kind = "admission.k8s.io/v1", "AdmissionReview"
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(&out); err != nil {
		s.cfg.Log.Debug().Err(err).Msg("write admission response")
	}
}

// nodeReview is the part of a node AdmissionReview the node webhook reads:
// decoding into it skips the rest of the Node (status, managed fields) in
// the one pass over the body, where a whole AdmissionReview and then a
// whole Node would build both (~6% of a member's CPU while 50,000 nodes
// were created, localcluster/BENCHMARKS.md).
type nodeReview struct {
	metav1.TypeMeta `json:",inline"`
	Request         *struct {
		UID         types.UID               `json:"uid"`
		Kind        metav1.GroupVersionKind `json:"kind"`
		SubResource string                  `json:"subResource,omitempty"`
		Operation   admissionv1.Operation   `json:"operation"`
		Object      struct {
			Metadata struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		} `json:"object"`
	} `json:"request"`
}

// reviewNode answers one node AdmissionReview: always allowed; a node the
// shard controller takes gets a JSON patch adding its shard label.
func (s *Server) reviewNode(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		s.nodes.WithLabelValues("malformed").Inc()
		return
	}
	var rev nodeReview
	if err := json.Unmarshal(body, &rev); err != nil || rev.Request == nil {
		http.Error(w, "not an admission.k8s.io/v1 AdmissionReview of a Node", http.StatusBadRequest)
		s.nodes.WithLabelValues("malformed").Inc()
		return
	}
	resp := &admissionv1.AdmissionResponse{UID: rev.Request.UID, Allowed: true}
	patch, result := s.nodePatch(&rev)
	if patch != nil {
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = patch, &pt
	}
	s.nodes.WithLabelValues(result).Inc()
	s.answer(w, rev.TypeMeta, resp)
}

func (s *Server) nodePatch(rev *nodeReview) ([]byte, string) {
	req := rev.Request
	if req.Operation != admissionv1.Create || req.Kind.Kind != "Node" || req.SubResource != "" || s.cfg.AssignNode == nil {
		return nil, "ignored"
	}
	meta := req.Object.Metadata
	if meta.Name == "" {
		// generateName: the name comes after admission, and the controller's
		// tally counts nodes by name, so its next pass labels this one.
		return nil, "ignored"
	}
	if _, has := meta.Labels[s.cfg.ShardLabel]; has {
		return nil, "ignored"
	}
	member, ok := s.cfg.AssignNode(meta.Name, meta.Labels)
	if !ok {
		return nil, "ignored"
	}
	var op any
	if meta.Labels == nil {
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
