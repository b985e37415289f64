package webhook

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/rs/zerolog"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestReviewNode posts node AdmissionReviews as the API server sends them
// (the whole Node, status and managed fields included) and applies the
// patch each answer carries the way the API server does (JSON patch), so
// the lean decoding is checked against what a created node ends up with.
func TestReviewNode(t *testing.T) {
	const shardLabel = "k8s1m.io/dist-scheduler-shard"
	s, err := Start(Config{
		Addr: "127.0.0.1:0", ShardLabel: shardLabel, Offer: func(*v1.Pod) {},
		AssignNode: func(name string, labels map[string]string) (string, bool) {
			if labels["pool"] == "other" {
				return "", false
			}
			return "member-" + name, true
		},
		Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close(context.Background()) }()
	client := trustingClient(t, s)

	node := func(name string, labels map[string]string) []byte {
		capacity := v1.ResourceList{v1.ResourceCPU: resource.MustParse("32"), v1.ResourcePods: resource.MustParse("110")}
		n := v1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, ManagedFields: []metav1.ManagedFieldsEntry{{
				Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", FieldsType: "FieldsV1",
				FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{".":{}}},"f:status":{"f:capacity":{}}}`)}}},
			Status: v1.NodeStatus{Capacity: capacity, Allocatable: capacity, Phase: v1.NodeRunning,
				Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}},
		}
		b, err := json.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	create := func(name string, labels map[string]string) *admissionv1.AdmissionRequest {
		return &admissionv1.AdmissionRequest{Operation: admissionv1.Create,
			Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Node"}, Object: runtime.RawExtension{Raw: node(name, labels)}}
	}
	update := create("n5", map[string]string{"a": "b"})
	update.Operation = admissionv1.Update
	status := create("n6", map[string]string{"a": "b"})
	status.SubResource = "status"

	tests := []struct {
		name       string
		req        *admissionv1.AdmissionRequest
		body       []byte // raw body instead of req
		code       int
		wantLabels map[string]string // after the patch; nil: no patch expected
	}{
		{name: "labelled", req: create("n1", map[string]string{"kubernetes.io/hostname": "n1"}), code: 200,
			wantLabels: map[string]string{"kubernetes.io/hostname": "n1", shardLabel: "member-n1"}},
		{name: "no labels yet", req: create("n2", nil), code: 200, wantLabels: map[string]string{shardLabel: "member-n2"}},
		{name: "already sharded", req: create("n3", map[string]string{shardLabel: "m9"}), code: 200},
		{name: "not taken by the controller", req: create("n4", map[string]string{"pool": "other"}), code: 200},
		{name: "update", req: update, code: 200},
		{name: "status", req: status, code: 200},
		{name: "generated name", req: create("", map[string]string{"a": "b"}), code: 200},
		{name: "not a review", body: []byte(`{"request":`), code: 400},
		{name: "no request", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), code: 400},
		{name: "labels not a map", body: []byte(`{"request":{"uid":"x","kind":{"kind":"Node"},"operation":"CREATE","object":{"metadata":{"name":"n","labels":7}}}}`), code: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev := postReview(t, client, s.NodeURL(), tt.name, tt.req, tt.body, tt.code)
			if rev == nil {
				return
			}
			r := rev.Response
			if r == nil || !r.Allowed || r.UID != tt.req.UID || rev.Kind != "AdmissionReview" || rev.APIVersion != "admission.k8s.io/v1" {
				t.Fatalf("review %+v: want an allowed admission.k8s.io/v1 response with the request's UID", rev)
			}
			if tt.wantLabels == nil {
				if r.Patch != nil {
					t.Fatalf("patch %s, want none", r.Patch)
				}
				return
			}
			if r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
				t.Fatalf("patch type %v, want JSONPatch", r.PatchType)
			}
			p, err := jsonpatch.DecodePatch(r.Patch)
			if err != nil {
				t.Fatalf("patch %s: %v", r.Patch, err)
			}
			patched, err := p.Apply(tt.req.Object.Raw)
			if err != nil {
				t.Fatalf("apply %s: %v", r.Patch, err)
			}
			var got v1.Node
			if err := json.Unmarshal(patched, &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Labels) != len(tt.wantLabels) {
				t.Fatalf("labels %v, want %v", got.Labels, tt.wantLabels)
			}
			for k, v := range tt.wantLabels {
				if got.Labels[k] != v {
					t.Fatalf("labels %v, want %v", got.Labels, tt.wantLabels)
				}
			}
			if q := got.Status.Capacity[v1.ResourcePods]; q.Value() != 110 || len(got.ManagedFields) != 1 {
				t.Fatalf("the patch changed more than the labels: capacity %v, managed fields %d", got.Status.Capacity, len(got.ManagedFields))
			}
		})
	}
}
