// Package server is the gateway's HTTP API: authenticated clients register
// their WireGuard public key and get back a ready client configuration (JSON
// or wg-quick), release their address, and operators read /healthz, /readyz
// and /metrics (package cli/opshttp). Allocation, the interface and
// authentication are behind small interfaces so the API is tested without a
// real device.
package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/k8s1m/k8s1m/cli/opshttp"
	"github.com/k8s1m/k8s1m/wggateway/alloc"
	"github.com/k8s1m/k8s1m/wggateway/auth"
	"github.com/k8s1m/k8s1m/wggateway/device"
	"github.com/k8s1m/k8s1m/wggateway/render"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// MaxBodyBytes bounds request bodies; a registration is well under 200 bytes.
const MaxBodyBytes = 4 << 10

// Peers is the part of the WireGuard interface the API changes.
type Peers interface {
	AddPeer(device.Peer) error
	RemovePeer(wgtypes.Key) error
}

// Config is what the API tells clients about the gateway.
type Config struct {
	GatewayPublicKey wgtypes.Key
	// Endpoint is host:port clients send WireGuard packets to, normally the
	// gateway's public IPv6 address, e.g. [2001:db8::1]:51820.
	Endpoint string
	// AllowedIPs clients route into the tunnel; 0.0.0.0/0 sends all IPv4 there.
	AllowedIPs []netip.Prefix
	DNS        []netip.Addr
	Keepalive  time.Duration
	// AllowServerKeys lets clients ask the gateway to generate their key pair.
	AllowServerKeys bool
}

// Server serves the API.
type Server struct {
	cfg     Config
	pool    *alloc.Pool
	peers   Peers
	auth    *auth.Checker
	log     zerolog.Logger
	metrics *metrics
	reg     *prometheus.Registry

	// changeMu makes a pool change and the matching interface change one
	// step: without it a release (or expiry) racing a registration of the
	// same key could remove the peer the registration just added.
	changeMu sync.Mutex
}

// New builds the server. reg is the registry /metrics serves; the server adds
// its own request metrics to it.
func New(cfg Config, pool *alloc.Pool, peers Peers, checker *auth.Checker, log zerolog.Logger, reg *prometheus.Registry) *Server {
	return &Server{cfg: cfg, pool: pool, peers: peers, auth: checker, log: log, metrics: newMetrics(reg), reg: reg}
}

// RegisterRequest is the body of POST /v1/peers.
type RegisterRequest struct {
	// PublicKey is the client's WireGuard public key (base64, 32 bytes).
	PublicKey string `json:"publicKey,omitempty"`
	// GenerateKey asks the gateway to generate the key pair (only when the
	// gateway allows it); PublicKey must then be empty.
	GenerateKey bool `json:"generateKey,omitempty"`
}

// ReleaseRequest is the body of DELETE /v1/peers.
type ReleaseRequest struct {
	PublicKey string `json:"publicKey"`
	// ReleaseToken is the token the registration that created the allocation
	// answered with: everyone shares the secret, so the secret alone must not
	// let one node release another's address.
	ReleaseToken string `json:"releaseToken"`
}

// RegisterResponse is the JSON answer of POST /v1/peers: the client config,
// plus the release token when this request created the allocation.
type RegisterResponse struct {
	render.ClientConfig
	// ReleaseToken proves ownership of the allocation to DELETE /v1/peers. It
	// is only in the answer that created the allocation; the gateway keeps
	// only its hash.
	ReleaseToken string `json:"releaseToken,omitempty"`
}

// Error is the JSON body of every error answer.
type Error struct {
	Error string `json:"error"`
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/peers", s.authenticated(s.register))
	mux.Handle("DELETE /v1/peers", s.authenticated(s.release))
	opshttp.Mount(mux, opshttp.Config{Gatherer: s.reg, Registerer: s.reg}) // /healthz, /readyz, /metrics: no auth
	return s.instrument(mux)
}

func (s *Server) authenticated(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch res := s.auth.Check(r); res {
		case auth.OK:
			next(w, r)
		case auth.Limited:
			// Debug, not warn: a guesser would otherwise flood the log; the
			// counter wggateway_auth_failures_total{reason="rate_limited"} shows it.
			s.log.Debug().Stringer("source", auth.SourceOf(r)).Msg("authentication rate limited")
			w.Header().Set("Retry-After", "60")
			writeError(w, http.StatusTooManyRequests, "too many failed authentications from this source")
		default:
			// The presented password is never logged, only that it failed.
			s.log.Warn().Stringer("source", auth.SourceOf(r)).Stringer("reason", res).Msg("authentication failed")
			w.Header().Set("WWW-Authenticate", `Basic realm="wggateway", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, "authentication required")
		}
	})
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	var req RegisterRequest
	if !decode(w, r, &req) {
		return
	}
	var (
		pub  wgtypes.Key
		priv string
	)
	switch {
	case req.GenerateKey && req.PublicKey != "":
		writeError(w, http.StatusBadRequest, "give either publicKey or generateKey, not both")
		return
	case req.GenerateKey:
		if !s.cfg.AllowServerKeys {
			writeError(w, http.StatusForbidden, "this gateway does not generate keys: send your public key")
			return
		}
		k, err := wgtypes.GeneratePrivateKey()
		if err != nil {
			s.log.Error().Err(err).Msg("generate key pair")
			writeError(w, http.StatusInternalServerError, "cannot generate a key pair")
			return
		}
		pub, priv = k.PublicKey(), k.String()
	default:
		k, err := parsePublicKey(req.PublicKey)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		pub = k
	}

	token, tokenHash, err := newReleaseToken()
	if err != nil {
		s.log.Error().Err(err).Msg("generate release token")
		writeError(w, http.StatusInternalServerError, "cannot generate a release token")
		return
	}

	s.changeMu.Lock()
	defer s.changeMu.Unlock()
	a, created, err := s.pool.AllocateFor(pub.String(), alloc.Owner{Source: auth.SourceOf(r), TokenHash: tokenHash})
	if errors.Is(err, alloc.ErrQuota) {
		s.log.Warn().Err(err).Str("publicKey", pub.String()).Stringer("source", auth.SourceOf(r)).Msg("per-source quota reached")
		w.Header().Set("Retry-After", "300")
		writeError(w, http.StatusTooManyRequests, "this source holds its quota of allocations: release one first")
		return
	}
	if errors.Is(err, alloc.ErrExhausted) {
		s.log.Error().Err(err).Str("publicKey", pub.String()).Stringer("source", auth.SourceOf(r)).Msg("tunnel pool exhausted")
		w.Header().Set("Retry-After", "300")
		writeError(w, http.StatusServiceUnavailable, "tunnel address pool exhausted")
		return
	}
	if err != nil {
		s.log.Error().Err(err).Str("publicKey", pub.String()).Msg("allocate")
		writeError(w, http.StatusInternalServerError, "cannot allocate an address")
		return
	}
	// Applied on every request, not only the first: it is idempotent and
	// heals a peer that was removed from the interface by hand.
	if err := s.peers.AddPeer(device.Peer{PublicKey: pub, AllowedIPs: HostPrefixes(a)}); err != nil {
		s.log.Error().Err(err).Str("publicKey", pub.String()).Msg("add peer to interface")
		if created {
			if _, rerr := s.pool.Release(pub.String()); rerr != nil {
				s.log.Error().Err(rerr).Str("publicKey", pub.String()).Msg("roll back allocation")
			}
		}
		writeError(w, http.StatusInternalServerError, "cannot add the peer to the interface")
		return
	}
	ev := s.log.Debug()
	if created {
		ev = s.log.Info()
	}
	ev.Str("publicKey", pub.String()).Stringer("ipv4", a.IPv4).Stringer("source", auth.SourceOf(r)).
		Bool("created", created).Bool("serverKey", priv != "").Msg("peer registered")

	cc := render.ClientConfig{
		Interface: render.Interface{PrivateKey: priv, PublicKey: pub.String(), Addresses: HostPrefixes(a), DNS: s.cfg.DNS},
		Peer: render.Peer{
			PublicKey:                  s.cfg.GatewayPublicKey.String(),
			Endpoint:                   s.cfg.Endpoint,
			AllowedIPs:                 s.cfg.AllowedIPs,
			PersistentKeepaliveSeconds: int(s.cfg.Keepalive / time.Second),
		},
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	if priv != "" {
		// The answer carries a private key: keep it out of every cache.
		w.Header().Set("Cache-Control", "no-store")
	}
	if wantsWGQuick(r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		if err := render.WriteWGQuick(w, cc); err != nil {
			s.log.Debug().Err(err).Msg("write answer")
		}
		return
	}
	resp := RegisterResponse{ClientConfig: cc}
	if created {
		resp.ReleaseToken = token
		w.Header().Set("Cache-Control", "no-store")
	}
	writeJSON(w, status, resp)
}

// newReleaseToken returns a random token and the hex SHA-256 the pool keeps.
func newReleaseToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token), nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ownsAllocation reports in constant time whether token is a's release token.
func ownsAllocation(a alloc.Allocation, token string) bool {
	if a.TokenHash == "" || token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(a.TokenHash), []byte(hashToken(token))) == 1
}

func (s *Server) release(w http.ResponseWriter, r *http.Request) {
	var req ReleaseRequest
	if !decode(w, r, &req) {
		return
	}
	pub, err := parsePublicKey(req.PublicKey)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.changeMu.Lock()
	defer s.changeMu.Unlock()
	// changeMu is held from the ownership check to the release, so the
	// allocation checked is the one released.
	held, ok := s.pool.Get(pub.String())
	if !ok {
		writeError(w, http.StatusNotFound, "no peer with this public key")
		return
	}
	if !ownsAllocation(held, req.ReleaseToken) {
		s.log.Warn().Str("publicKey", pub.String()).Stringer("source", auth.SourceOf(r)).Msg("release refused: wrong or missing release token")
		writeError(w, http.StatusForbidden, "releaseToken does not match the one this allocation was created with")
		return
	}
	a, err := s.pool.Release(pub.String())
	if errors.Is(err, alloc.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no peer with this public key")
		return
	}
	if err != nil {
		s.log.Error().Err(err).Str("publicKey", pub.String()).Msg("release")
		writeError(w, http.StatusInternalServerError, "cannot release the address")
		return
	}
	if err := s.peers.RemovePeer(pub); err != nil {
		// The address is free in the pool; the next reconcile removes the
		// peer from the interface.
		s.log.Error().Err(err).Str("publicKey", pub.String()).Msg("remove peer from interface")
	}
	s.log.Info().Str("publicKey", pub.String()).Stringer("ipv4", a.IPv4).Stringer("source", auth.SourceOf(r)).Msg("peer released")
	w.WriteHeader(http.StatusNoContent)
}

// ExpireIdle releases peers idle for longer than idle and removes them from the
// interface, in step with the API's own changes. It returns the expired ones.
func (s *Server) ExpireIdle(idle time.Duration) ([]alloc.Allocation, error) {
	s.changeMu.Lock()
	defer s.changeMu.Unlock()
	gone, err := s.pool.Expire(idle)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range gone {
		k, err := wgtypes.ParseKey(a.PublicKey)
		if err == nil {
			err = s.peers.RemovePeer(k)
		}
		if err != nil {
			// Free in the pool already; the next start's reconcile removes it.
			errs = append(errs, fmt.Errorf("remove expired peer %s: %w", a.PublicKey, err))
		}
	}
	return gone, errors.Join(errs...)
}

// HostPrefixes returns the single-address prefixes of a: the AllowedIPs the
// gateway routes to that peer and the addresses the peer puts on its
// interface. The gateway's reconcile uses it too, so both agree.
func HostPrefixes(a alloc.Allocation) []netip.Prefix {
	out := []netip.Prefix{netip.PrefixFrom(a.IPv4, 32)}
	if a.IPv6.IsValid() {
		out = append(out, netip.PrefixFrom(a.IPv6, 128))
	}
	return out
}

func parsePublicKey(s string) (wgtypes.Key, error) {
	if s == "" {
		return wgtypes.Key{}, errors.New("publicKey is required")
	}
	k, err := wgtypes.ParseKey(s)
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("publicKey: not a base64 WireGuard key: %w", err)
	}
	if k == (wgtypes.Key{}) {
		return wgtypes.Key{}, errors.New("publicKey: the all-zero key is not a key")
	}
	return k, nil
}

// decode reads a JSON body into v, answering the error itself when it fails.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "want Content-Type application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", MaxBodyBytes))
			return false
		}
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "body: more than one JSON value")
		return false
	}
	return true
}

// wantsWGQuick picks the wg-quick rendering with ?format=wg-quick or an Accept
// header preferring text/plain; JSON is the default.
func wantsWGQuick(r *http.Request) bool {
	switch r.URL.Query().Get("format") {
	case "wg-quick", "conf":
		return true
	case "json":
		return false
	}
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "text/plain") && !strings.Contains(accept, "application/json")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, Error{Error: msg})
}
