// Command memetcd is an in-memory etcd v3 API server for Kubernetes.
package main

import (
	"github.com/k8s1m/k8s1m/cli/command"
	"github.com/k8s1m/k8s1m/memetcd/app"
	"github.com/spf13/cobra"
)

func main() {
	root := command.NewRoot("memetcd", "in-memory etcd v3 API server for Kubernetes")
	cfg := app.DefaultConfig()
	f := root.Cmd.Flags()
	f.StringVar(&cfg.ListenAddress, "listen-address", cfg.ListenAddress, "address to listen on for both ports")
	f.IntVar(&cfg.Port, "port", cfg.Port, "etcd gRPC client port")
	f.IntVar(&cfg.MetricsPort, "metrics-port", cfg.MetricsPort, "port for /metrics, /healthz, /readyz, /health and (with --enable-pprof) /debug/pprof")
	f.BoolVar(&cfg.EnablePprof, "enable-pprof", false, "serve /debug/pprof on the metrics port (anyone who reaches it can profile the process)")
	f.StringVar(&cfg.WALDir, "wal-dir", cfg.WALDir, "WAL directory (one file per prefix)")
	f.StringVar(&cfg.WALDefault, "wal-default", cfg.WALDefault, "WAL mode for prefixes without an override: none, buffered or fsync")
	f.StringArrayVar(&cfg.WALNoWritePrefixes, "wal-no-write-prefix", nil, "key prefix never written to the WAL (repeatable)")
	f.StringArrayVar(&cfg.WALPrefixModes, "wal-prefix-mode", nil, "WAL mode of a key prefix, <prefix>=none|buffered|fsync (repeatable; longest matching prefix wins)")
	f.DurationVar(&cfg.WALFlushInterval, "wal-flush-interval", cfg.WALFlushInterval, "buffered mode: longest time a write may wait to reach the OS (survives a memetcd crash)")
	f.DurationVar(&cfg.WALSyncInterval, "wal-sync-interval", cfg.WALSyncInterval, "buffered mode: how often written records are fdatasynced in the background (survive a power cut); not below --wal-flush-interval")
	f.DurationVar(&cfg.WALSnapshotInterval, "wal-snapshot-interval", cfg.WALSnapshotInterval, "how often to snapshot the store and drop the WAL segments it covers (0: never)")
	f.Int64Var(&cfg.WALSegmentBytes, "wal-segment-bytes", cfg.WALSegmentBytes, "size in bytes after which a prefix starts a new WAL segment")
	f.Int64Var(&cfg.WALPreallocBytes, "wal-prealloc-bytes", cfg.WALPreallocBytes, "fsync mode: zero-fill WAL segments this many bytes ahead, so an fdatasync writes data without a filesystem journal commit (0: off, append instead)")
	f.DurationVar(&cfg.WALFlusherSlice, "wal-flusher-slice", cfg.WALFlusherSlice, "Linux 6.12+: CPU time slice the WAL flusher thread asks for, so it runs as soon as an fdatasync returns; used only when some prefix is in fsync mode (0: default scheduling)")
	f.BoolVar(&cfg.WALRepair, "wal-repair", false, "at boot, truncate the WAL at the first bad record instead of refusing to start (loses every later record)")
	f.StringVar(&cfg.CertFile, "cert-file", "", "TLS certificate for the client port (PEM)")
	f.StringVar(&cfg.KeyFile, "key-file", "", "TLS key for the client port (PEM)")
	f.StringVar(&cfg.TrustedCAFile, "trusted-ca-file", "", "CA bundle client certificates are verified against (PEM)")
	f.BoolVar(&cfg.ClientCertAuth, "client-cert-auth", false, "require a client certificate signed by --trusted-ca-file")
	f.IntVar(&cfg.MaxRequestBytes, "max-request-bytes", cfg.MaxRequestBytes, "largest request accepted, in bytes (etcd's default: 1.5 MiB)")
	f.Uint32Var(&cfg.MaxConcurrentStreams, "max-concurrent-streams", cfg.MaxConcurrentStreams, "most gRPC streams (calls and watch streams) one client connection may have open; more wait at the client")
	f.IntVar(&cfg.MaxWatchersPerStream, "max-watchers-per-stream", cfg.MaxWatchersPerStream, "most watchers one watch stream may hold; further creates are refused (canceled with a reason)")
	f.IntVar(&cfg.MaxResponseBytes, "max-response-bytes", cfg.MaxResponseBytes, "largest response sent, in bytes; a larger Range fails with gRPC's ResourceExhausted (paginate)")
	f.Int64Var(&cfg.QuotaBackendBytes, "quota-backend-bytes", cfg.QuotaBackendBytes, "live key and value bytes the store may hold before the NOSPACE alarm refuses writes (etcd's flag; negative: no quota)")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long in-flight requests may finish after SIGTERM")
	f.StringVar(&cfg.Transport, "transport", cfg.Transport, "what serves the client port: lean (memetcd's own HTTP/2 transport: a request is handled on its connection's reader, no goroutine hand-off) or grpc (grpc-go's server)")
	sysmonDeepSleep := false
	f.BoolVar(&sysmonDeepSleep, "go-sysmon-deep-sleep", false, "let the Go runtime's monitor thread deep-sleep whenever memetcd is idle (Go's default); off, memetcd re-executes itself once at start with GODEBUG="+sysmonAwake+", which costs ~100 wake-ups/s when idle and saves ~17% of CPU per Kubernetes write (BENCHMARKS.md)")
	command.BindEnv(f, "go-sysmon-deep-sleep", "MEMETCD_GO_SYSMON_DEEP_SLEEP")
	command.BindEnv(f, "port", "ETCD_PORT")
	command.BindEnv(f, "transport", "MEMETCD_TRANSPORT")
	command.BindEnv(f, "metrics-port", "ETCD_METRICS_PORT")
	command.BindEnv(f, "wal-dir", "ETCD_WAL_DIR")
	command.BindEnv(f, "enable-pprof", "ETCD_ENABLE_PPROF")
	command.BindEnv(f, "max-concurrent-streams", "ETCD_MAX_CONCURRENT_STREAMS")
	command.BindEnv(f, "quota-backend-bytes", "ETCD_QUOTA_BACKEND_BYTES")
	root.Cmd.RunE = func(c *cobra.Command, _ []string) error {
		log, err := root.Logger()
		if err != nil {
			return err
		}
		if !sysmonDeepSleep {
			if err := keepSysmonAwake(log); err != nil {
				log.Warn().Err(err).Msg("the Go runtime's monitor keeps its default deep sleep")
			}
		}
		return app.Run(c.Context(), log, cfg)
	}
	command.Execute(root.Cmd)
}
