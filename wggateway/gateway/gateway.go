package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/k8s1m/k8s1m/wggateway/alloc"
	"github.com/k8s1m/k8s1m/wggateway/auth"
	"github.com/k8s1m/k8s1m/wggateway/device"
	"github.com/k8s1m/k8s1m/wggateway/internal/keyfile"
	"github.com/k8s1m/k8s1m/wggateway/server"
	"github.com/k8s1m/k8s1m/wggateway/snat"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Run runs the gateway until ctx is cancelled, then shuts the API down
// gracefully. The interface (if kernel) and the SNAT rule stay in place so
// tunnels survive a restart; the next start reconciles them.
func Run(ctx context.Context, log zerolog.Logger, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	secret, err := auth.LoadSecret(cfg.SecretFile, SecretEnv)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if cfg.TLSCert == "" {
		log.Warn().Str("listen", cfg.Listen).Msg("--behind-tls-proxy: serving the API over plain HTTP; only a TLS-terminating proxy in front keeps the shared secret off the wire")
	}
	limiter, err := auth.NewFailureLimiter(cfg.AuthFailBurst, cfg.AuthFailRefill, nil)
	if err != nil {
		return err
	}
	pool, err := alloc.New(alloc.Config{PoolV4: cfg.PoolV4, PoolV6: cfg.PoolV6, StatePath: cfg.StateFile, MaxPerSource: cfg.MaxPeersPerSource}, alloc.NewMetrics(reg))
	if err != nil {
		return err
	}
	key, created, err := keyfile.LoadOrCreate(cfg.PrivateKeyFile)
	if err != nil {
		return err
	}
	if created {
		log.Info().Str("file", cfg.PrivateKeyFile).Msg("generated gateway private key")
	}

	gw4, gw6 := pool.Gateway()
	addrs := []netip.Prefix{netip.PrefixFrom(gw4, cfg.PoolV4.Bits())}
	if gw6.IsValid() {
		addrs = append(addrs, netip.PrefixFrom(gw6, cfg.PoolV6.Bits()))
	}
	dev, err := device.Open(device.Config{Name: cfg.Interface, Userspace: cfg.Userspace, MTU: cfg.MTU, Addresses: addrs}, log, device.NewMetrics(reg))
	if err != nil {
		return err
	}
	defer dev.Close()
	port := cfg.ListenPort
	if err := dev.Setup(key, &port); err != nil {
		return err
	}
	if err := reconcile(dev, pool); err != nil {
		return err
	}
	log.Info().Int("peers", len(pool.List())).Str("publicKey", key.PublicKey().String()).Int("listenPort", port).
		Stringer("poolV4", cfg.PoolV4).Msg("interface reconciled with persisted peers")

	var snatCfg *snat.Config
	if cfg.SNATInterface != "" {
		lan, err := snat.ConnectedPrefixes(cfg.SNATInterface)
		if err != nil {
			return err
		}
		snatCfg = &snat.Config{Pool: cfg.PoolV4, OutInterface: cfg.SNATInterface, TunnelInterface: cfg.Interface,
			Deny: append(lan, cfg.ForwardDeny...)}
		if err := snat.Apply(*snatCfg); err != nil {
			return err
		}
		log.Info().Stringer("pool", cfg.PoolV4).Str("out", cfg.SNATInterface).Str("deny", fmt.Sprint(append([]netip.Prefix{snat.LinkLocal}, snatCfg.Deny...))).
			Msg("forwarding on, masquerade and forward filter installed")
	}

	checker := auth.NewChecker(secret, limiter, auth.NewMetrics(reg))
	api := server.New(server.Config{
		GatewayPublicKey: key.PublicKey(),
		Endpoint:         cfg.Endpoint,
		AllowedIPs:       cfg.AllowedIPs,
		DNS:              cfg.DNS,
		Keepalive:        cfg.Keepalive,
		AllowServerKeys:  cfg.AllowServerKeys,
	}, pool, dev, checker, log, reg)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	hs := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	serveErr := make(chan error, 1)
	go func() {
		if cfg.TLSCert != "" {
			serveErr <- hs.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			serveErr <- hs.Serve(ln)
		}
	}()
	log.Info().Stringer("addr", ln.Addr()).Bool("tls", cfg.TLSCert != "").Msg("API serving")

	sweepDone := make(chan struct{})
	sweepCtx, stopSweep := context.WithCancel(ctx)
	go func() {
		defer close(sweepDone)
		sweepLoop(sweepCtx, log, cfg, pool, dev, api, snatCfg)
	}()

	var runErr error
	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	case err := <-serveErr:
		runErr = fmt.Errorf("serve API: %w", err)
	}
	stopSweep()
	<-sweepDone
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		runErr = errors.Join(runErr, fmt.Errorf("shutdown API: %w", err))
	}
	// A last sweep persists handshake times seen since the previous one.
	if _, err := pool.Expire(never); err != nil {
		runErr = errors.Join(runErr, err)
	}
	log.Info().Msg("stopped")
	return runErr
}

// never is an idle timeout no peer reaches.
const never = 100 * 365 * 24 * time.Hour

// reconcile makes the interface's peers exactly the persisted allocations.
func reconcile(dev *device.Interface, pool *alloc.Pool) error {
	var peers []device.Peer
	for _, a := range pool.List() {
		k, err := wgtypes.ParseKey(a.PublicKey)
		if err != nil {
			return fmt.Errorf("persisted peer %q: %w", a.PublicKey, err)
		}
		peers = append(peers, device.Peer{PublicKey: k, AllowedIPs: server.HostPrefixes(a)})
	}
	return dev.Reconcile(peers)
}

// sweepLoop carries handshake times into the pool, expires idle peers and
// re-installs the SNAT rule if something removed it.
func sweepLoop(ctx context.Context, log zerolog.Logger, cfg Config, pool *alloc.Pool, dev *device.Interface, api *server.Server, snatCfg *snat.Config) {
	t := time.NewTicker(cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if st, err := dev.State(); err != nil {
			log.Warn().Err(err).Msg("read interface state")
		} else {
			for _, p := range st.Peers {
				if !p.LastHandshakeTime.IsZero() {
					pool.Touch(p.PublicKey.String(), p.LastHandshakeTime)
				}
			}
		}
		idle := cfg.IdleTimeout
		if idle == 0 {
			idle = never // nothing expires; the call still persists the touches
		}
		gone, err := api.ExpireIdle(idle)
		if err != nil {
			log.Error().Err(err).Msg("expire idle peers")
		}
		for _, a := range gone {
			log.Info().Str("publicKey", a.PublicKey).Stringer("ipv4", a.IPv4).Time("lastSeen", a.LastSeen).Msg("idle peer expired")
		}
		if snatCfg != nil {
			if ok, err := snat.Installed(*snatCfg); err != nil || !ok {
				log.Warn().Err(err).Msg("masquerade rule missing, re-installing")
				if err := snat.Apply(*snatCfg); err != nil {
					log.Error().Err(err).Msg("re-install masquerade")
				}
			}
		}
	}
}
