// Package kubeapi starts a real kube-apiserver (bin/kube-apiserver, built from
// k8s.io/kubernetes at the workspace pin) on loopback, pointed at a given etcd
// endpoint and secured with a generated PKI, and waits until /readyz answers.
// It hands back file paths (kubeconfig, CA, admin cert and key) rather than a
// client, so this module stays free of k8s.io imports: callers build their own
// client-go config from the kubeconfig.
package kubeapi

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/k8s1m/k8s1m/harness/pki"
	"github.com/k8s1m/k8s1m/harness/proc"
)

// Authorization modes.
const (
	// AuthzRBACNode is what clusters run; admin is in system:masters either way.
	AuthzRBACNode = "Node,RBAC"
	// AuthzAlwaysAllow skips authorization work, for load runs that measure the
	// store and scheduler rather than the authorizer.
	AuthzAlwaysAllow = "AlwaysAllow"
)

// DefaultServiceClusterIPRange matches pki.ServiceIP.
const DefaultServiceClusterIPRange = "10.96.0.0/12"

// Config says how to run kube-apiserver.
type Config struct {
	// Bin is the kube-apiserver binary.
	Bin string
	// RunDir holds the log, PID file, kubeconfig and the server's cert dir.
	RunDir string
	// Name is the process name; "kube-apiserver" when empty.
	Name string
	// PKI is the generated cluster PKI (pki.Generate).
	PKI *pki.Files
	// EtcdServers are the store's client URLs.
	EtcdServers []string
	// SecurePort is the HTTPS port on 127.0.0.1; zero picks a free one.
	SecurePort int
	// AuthorizationMode defaults to AuthzRBACNode.
	AuthorizationMode string
	// ServiceClusterIPRange defaults to DefaultServiceClusterIPRange.
	ServiceClusterIPRange string
	// ExtraArgs are appended after the generated flags (later flags win), e.g.
	// "--max-requests-inflight=2000".
	ExtraArgs []string
	Env       []string
	// KillWithParent: see proc.Spec.
	KillWithParent bool
	// ReadyTimeout bounds the wait for /readyz; 2 minutes when zero (the first
	// start on a loaded 2-core machine takes tens of seconds).
	ReadyTimeout time.Duration
}

// APIServer is a started, ready kube-apiserver.
type APIServer struct {
	Proc *proc.Process
	// URL is https://127.0.0.1:<port>.
	URL string
	// Kubeconfig is an admin kubeconfig (certificates embedded).
	Kubeconfig string
	// CAFile, CertFile and KeyFile are the cluster CA and the admin client pair.
	CAFile, CertFile, KeyFile string
}

// Args returns kube-apiserver's flags for cfg and port.
func Args(cfg Config, port int) []string {
	authz := cfg.AuthorizationMode
	if authz == "" {
		authz = AuthzRBACNode
	}
	svcRange := cfg.ServiceClusterIPRange
	if svcRange == "" {
		svcRange = DefaultServiceClusterIPRange
	}
	f := cfg.PKI
	args := []string{
		"--etcd-servers=" + strings.Join(cfg.EtcdServers, ","),
		fmt.Sprintf("--secure-port=%d", port),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The endpoint reconciler refuses a loopback advertise address, and
		// nothing in a local run reaches the apiserver through its Service.
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + filepath.Join(cfg.RunDir, "apiserver-certs"),
		"--tls-cert-file=" + f.ServingCert,
		"--tls-private-key-file=" + f.ServingKey,
		"--client-ca-file=" + f.CACert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + f.SAPublicKey,
		"--service-account-signing-key-file=" + f.SAPrivateKey,
		"--api-audiences=https://kubernetes.default.svc.cluster.local",
		"--authorization-mode=" + authz,
		"--service-cluster-ip-range=" + svcRange,
	}
	return append(args, cfg.ExtraArgs...)
}

// Start starts kube-apiserver, writes RunDir/admin.kubeconfig and waits until
// /readyz answers 200 to the admin certificate. On failure the process is stopped
// and the error shows its log tail.
func Start(ctx context.Context, cfg Config) (*APIServer, error) {
	if cfg.Name == "" {
		cfg.Name = "kube-apiserver"
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 2 * time.Minute
	}
	if cfg.PKI == nil || len(cfg.EtcdServers) == 0 || cfg.Bin == "" || cfg.RunDir == "" {
		return nil, fmt.Errorf("start %s: Bin, RunDir, PKI and EtcdServers are required", cfg.Name)
	}
	port := cfg.SecurePort
	if port == 0 {
		p, err := proc.FreePort()
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
		}
		port = p
	} else if err := proc.CheckPortFree(port); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	a := &APIServer{
		URL:        fmt.Sprintf("https://127.0.0.1:%d", port),
		Kubeconfig: filepath.Join(cfg.RunDir, "admin.kubeconfig"),
		CAFile:     cfg.PKI.CACert,
		CertFile:   cfg.PKI.AdminCert,
		KeyFile:    cfg.PKI.AdminKey,
	}
	if err := cfg.PKI.AdminKubeconfig(a.Kubeconfig, a.URL); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	tlsCfg, err := cfg.PKI.AdminTLSConfig()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	p, err := proc.Start(proc.Spec{
		Name:           cfg.Name,
		Path:           cfg.Bin,
		Args:           Args(cfg, port),
		Env:            cfg.Env,
		RunDir:         cfg.RunDir,
		KillWithParent: cfg.KillWithParent,
	})
	if err != nil {
		return nil, err
	}
	if err := p.WaitReady(ctx, proc.HTTPProbe(a.URL+"/readyz", tlsCfg), cfg.ReadyTimeout); err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, err
	}
	a.Proc = p
	return a, nil
}

// Stop stops kube-apiserver (SIGTERM, then SIGKILL after grace).
func (a *APIServer) Stop(grace time.Duration) error { return a.Proc.Stop(grace) }
