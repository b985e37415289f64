// Package webhook is distscheduler's admission-webhook pod intake: the
// leader learns of a pod while the API server is admitting it, before the
// pod is stored and before any watch could deliver it. Every leader-eligible
// member serves the webhook (HTTPS, a certificate it makes at start); the
// Lease holder points the cluster's ValidatingWebhookConfiguration at
// itself (Register), so only the leader is called. The webhook only
// observes: it always allows the pod, it is registered with failurePolicy
// Ignore and a short timeout, and it skips dry runs, so a slow or absent
// leader never blocks pod creation. The leader's watch stays the backstop:
// a pod the webhook missed is taken from the watch, and one seen both ways
// is handled once (the intake keys pods by UID).
package webhook

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/podpath"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	admissionv1 "k8s.io/api/admission/v1"
	v1 "k8s.io/api/core/v1"
)

// Path is where the webhook is served.
const Path = "/validate-pods"

// maxBody bounds an AdmissionReview request body.
const maxBody = 4 << 20

// Config configures a webhook server.
type Config struct {
	// Addr is the listen address ("host:port"; port 0 picks one).
	Addr string
	// Host is the IP or DNS name the API server dials; the serving
	// certificate is made for it. Default: Addr's host.
	Host string
	// SchedulerNames are the profiles' scheduler names: other pods are
	// allowed without being offered.
	SchedulerNames []string
	// Offer receives each new unassigned pod of those scheduler names, with
	// its UID; it must not block.
	Offer func(*v1.Pod)
	// AssignNode, when set, names the member a node being created belongs
	// to (false: leave the node alone); the node webhook (NodePath) then
	// adds the ShardLabel with that value.
	AssignNode func(name string, labels map[string]string) (string, bool)
	ShardLabel string
	// Registerer receives the webhook's metrics (nil: not registered).
	Registerer prometheus.Registerer
	Log        zerolog.Logger
}

// Server is a running webhook.
type Server struct {
	cfg    Config
	srv    *http.Server
	ln     net.Listener
	url    string
	host   string
	caPEM  []byte
	offers *prometheus.CounterVec
	nodes  *prometheus.CounterVec
	done   chan struct{}
}

// Start makes the certificate, listens on cfg.Addr and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.Offer == nil {
		return nil, errors.New("webhook: Offer is required")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("webhook listen on %s: %w", cfg.Addr, err)
	}
	host := cfg.Host
	if host == "" {
		host, _, _ = net.SplitHostPort(ln.Addr().String())
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		_ = ln.Close()
		return nil, fmt.Errorf("webhook: --webhook-host is required when listening on %s (the API server needs an address to dial)", cfg.Addr)
	}
	cert, caPEM, err := servingCert(host, 10*365*24*time.Hour)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("webhook certificate for %s: %w", host, err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s := &Server{
		cfg:   cfg,
		ln:    ln,
		url:   "https://" + net.JoinHostPort(host, port) + Path,
		host:  "https://" + net.JoinHostPort(host, port),
		caPEM: caPEM,
		offers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distscheduler_webhook_reviews_total",
			Help: "Pod admission reviews the webhook answered, by result: offered (handed to the intake), ignored (not a new unassigned pod of these scheduler names, or a dry run), malformed.",
		}, []string{"result"}),
		nodes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distscheduler_webhook_node_reviews_total",
			Help: "Node admission reviews the webhook answered, by result: labelled (given a shard), ignored, malformed.",
		}, []string{"result"}),
		done: make(chan struct{}),
	}
	if cfg.Registerer != nil {
		if err := errors.Join(cfg.Registerer.Register(s.offers), cfg.Registerer.Register(s.nodes)); err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("webhook metrics: %w", err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc(Path, s.review)
	mux.HandleFunc(NodePath, s.reviewNode)
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	go func() {
		defer close(s.done)
		if err := s.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Log.Error().Err(err).Msg("webhook server stopped")
		}
	}()
	cfg.Log.Info().Str("url", s.url).Msg("pod admission webhook serving")
	return s, nil
}

// URL is what the API server calls for pods.
func (s *Server) URL() string { return s.url }

// NodeURL is what the API server calls for nodes.
func (s *Server) NodeURL() string { return s.host + NodePath }

// CABundle is the PEM CA that signed the serving certificate.
func (s *Server) CABundle() []byte { return slices.Clone(s.caPEM) }

// Close stops serving, letting requests in progress finish until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	if err != nil {
		return fmt.Errorf("webhook shutdown: %w", err)
	}
	return nil
}

// review answers one AdmissionReview: always allowed; a new unassigned pod
// of ours is offered to the intake.
func (s *Server) review(w http.ResponseWriter, r *http.Request) {
	rev, ok := reviewBody(w, r)
	if !ok {
		s.offers.WithLabelValues("malformed").Inc()
		return
	}
	s.offers.WithLabelValues(s.consider(rev.Request)).Inc()
	s.answer(w, rev.TypeMeta, &admissionv1.AdmissionResponse{UID: rev.Request.UID, Allowed: true})
}

// consider offers the request's pod if it is a new pod still ours to place
// (podpath.Pending).
func (s *Server) consider(req *admissionv1.AdmissionRequest) string {
	if req.Operation != admissionv1.Create || req.Kind.Kind != "Pod" || req.SubResource != "" ||
		(req.DryRun != nil && *req.DryRun) {
		return "ignored"
	}
	var pod v1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		s.cfg.Log.Warn().Err(err).Str("pod", req.Namespace+"/"+req.Name).Msg("admission review carries an unreadable pod")
		return "malformed"
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	if pod.UID == "" || !podpath.Pending(&pod, s.cfg.SchedulerNames) {
		return "ignored"
	}
	s.cfg.Offer(&pod)
	return "offered"
}
