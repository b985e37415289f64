package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	admissionv1 "k8s.io/api/admission/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// TestReview calls a real webhook server over HTTPS on loopback, trusting
// only the CA bundle it hands out, as the API server would.
func TestReview(t *testing.T) {
	var mu sync.Mutex
	var offered []string
	s, err := Start(Config{
		Addr: "127.0.0.1:0", SchedulerNames: []string{"dist-scheduler"},
		Offer: func(p *v1.Pod) { mu.Lock(); offered = append(offered, p.Namespace+"/"+p.Name); mu.Unlock() },
		Log:   zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close(context.Background()) }()
	client := trustingClient(t, s)

	pod := func(name, sched, node string) []byte {
		p := v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)}, Spec: v1.PodSpec{SchedulerName: sched, NodeName: node}}
		b, _ := json.Marshal(p)
		return b
	}
	dry := true
	tests := []struct {
		name   string
		req    *admissionv1.AdmissionRequest
		body   []byte // raw body instead of req
		status int
	}{
		{name: "ours", req: &admissionv1.AdmissionRequest{Operation: admissionv1.Create, Namespace: "ns", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Object: runtime.RawExtension{Raw: pod("a", "dist-scheduler", "")}}, status: 200},
		{name: "other scheduler", req: &admissionv1.AdmissionRequest{Operation: admissionv1.Create, Namespace: "ns", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Object: runtime.RawExtension{Raw: pod("b", "default-scheduler", "")}}, status: 200},
		{name: "already assigned", req: &admissionv1.AdmissionRequest{Operation: admissionv1.Create, Namespace: "ns", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Object: runtime.RawExtension{Raw: pod("c", "dist-scheduler", "n1")}}, status: 200},
		{name: "dry run", req: &admissionv1.AdmissionRequest{Operation: admissionv1.Create, DryRun: &dry, Namespace: "ns", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Object: runtime.RawExtension{Raw: pod("d", "dist-scheduler", "")}}, status: 200},
		{name: "update", req: &admissionv1.AdmissionRequest{Operation: admissionv1.Update, Namespace: "ns", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Object: runtime.RawExtension{Raw: pod("e", "dist-scheduler", "")}}, status: 200},
		{name: "unreadable pod", req: &admissionv1.AdmissionRequest{Operation: admissionv1.Create, Namespace: "ns", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Object: runtime.RawExtension{Raw: []byte(`{"spec":7}`)}}, status: 200},
		{name: "not a review", body: []byte(`{"hello":`), status: 400},
		{name: "no request", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev := postReview(t, client, s.URL(), tt.name, tt.req, tt.body, tt.status)
			if rev == nil {
				return
			}
			if rev.Response == nil || !rev.Response.Allowed || rev.Response.UID != tt.req.UID || rev.Kind != "AdmissionReview" {
				t.Fatalf("response %+v: want allowed, same UID", rev.Response)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(offered) != 1 || offered[0] != "ns/a" {
		t.Fatalf("offered %v, want only ns/a", offered)
	}
}

func TestStartNeedsDialableHost(t *testing.T) {
	if _, err := Start(Config{Addr: "0.0.0.0:0", Offer: func(*v1.Pod) {}, Log: zerolog.Nop()}); err == nil {
		t.Fatal("want an error: the API server cannot dial 0.0.0.0")
	}
}

func TestRegistrationObject(t *testing.T) {
	o := Registration{Name: "dist-scheduler", URL: "https://127.0.0.1:1/validate-pods", CABundle: []byte("ca"),
		SchedulerNames: []string{"dist-scheduler", "o'brien"}}.object()
	w := o.Webhooks[0]
	if *w.FailurePolicy != "Ignore" || *w.TimeoutSeconds != 2 || *w.ClientConfig.URL != "https://127.0.0.1:1/validate-pods" {
		t.Fatalf("webhook %+v", w)
	}
	want := `has(object.spec.schedulerName) && object.spec.schedulerName in ['dist-scheduler', 'o\'brien'] && !has(object.spec.nodeName)`
	if w.MatchConditions[0].Expression != want {
		t.Fatalf("match condition %q, want %q", w.MatchConditions[0].Expression, want)
	}
}

// trustingClient is an HTTPS client that trusts s's serving certificate,
// as the API server does through the webhook configuration's CA bundle.
func trustingClient(t *testing.T, s *Server) *http.Client {
	t.Helper()
	return &http.Client{Timeout: 10 * time.Second, Transport: trustingTransport(t, s)}
}

// trustingTransport is the transport of trustingClient (HTTP/1.1 unless
// the caller sets ForceAttemptHTTP2).
func trustingTransport(tb testing.TB, s *Server) *http.Transport {
	tb.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CABundle()) {
		tb.Fatal("CA bundle is not PEM")
	}
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
}

// postReview POSTs an AdmissionReview carrying req (UID set from name), or
// the raw body when req is nil, and checks the status is want; on 200 it
// returns the decoded answer, otherwise nil.
func postReview(t *testing.T, client *http.Client, url, name string, req *admissionv1.AdmissionRequest, body []byte, want int) *admissionv1.AdmissionReview {
	t.Helper()
	if req != nil {
		req.UID = types.UID("req-" + name)
		body, _ = json.Marshal(admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: req})
	}
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d", resp.StatusCode, want)
	}
	if want != http.StatusOK {
		return nil
	}
	var rev admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&rev); err != nil {
		t.Fatal(err)
	}
	return &rev
}
