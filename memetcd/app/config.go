// Package app is memetcd's process: it turns a Config (the command-line
// flags) into a listening gRPC server, a metrics/health/pprof HTTP server and
// the store behind them, and shuts them down gracefully when its context ends.
package app

import (
	"fmt"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/server"
	"github.com/k8s1m/k8s1m/memetcd/wal"
)

// Config is everything memetcd's command line sets. Field comments give the
// flag; defaults are those of DefaultConfig.
type Config struct {
	// ListenAddress is the address both ports bind to (--listen-address,
	// default 127.0.0.1: exposing the store is an explicit choice).
	ListenAddress string
	// Port is the etcd gRPC client port (--port, env ETCD_PORT, default 2379).
	Port int
	// MetricsPort serves /metrics, /healthz, /readyz, etcd's /health and,
	// with EnablePprof, /debug/pprof (--metrics-port, env ETCD_METRICS_PORT,
	// default 9000).
	MetricsPort int
	// EnablePprof serves /debug/pprof on the metrics port (--enable-pprof,
	// etcd's flag; default off).
	EnablePprof bool

	// WALDir, WALDefault and WALNoWritePrefixes configure durability
	// (--wal-dir, env ETCD_WAL_DIR, default ./wal; --wal-default none|buffered|fsync,
	// default buffered; --wal-no-write-prefix, repeatable). Package wal owns
	// their meaning; see durability.go for the wiring.
	WALDir             string
	WALDefault         string
	WALNoWritePrefixes []string
	// WALPrefixModes sets the mode of key prefixes (--wal-prefix-mode
	// <prefix>=<mode>, repeatable; the longest matching prefix wins).
	// WALFlushInterval bounds how far buffered writes lag the disk
	// (--wal-flush-interval); WALSyncInterval is how often they are
	// fdatasynced (--wal-sync-interval). WALSnapshotInterval is how often a snapshot
	// replaces the segments it covers (--wal-snapshot-interval, 0 = never).
	// WALSegmentBytes starts a new segment file past this size
	// (--wal-segment-bytes). WALPreallocBytes is how far ahead fsync-mode
	// segments are zero-filled (--wal-prealloc-bytes, 0 = off).
	// WALFlusherSlice is the scheduler time slice the WAL flusher's thread
	// asks for (--wal-flusher-slice, 0 = the default scheduling).
	// WALRepair truncates at the first bad record instead of refusing to
	// boot (--wal-repair).
	WALPrefixModes      []string
	WALFlushInterval    time.Duration
	WALSyncInterval     time.Duration
	WALSnapshotInterval time.Duration
	WALSegmentBytes     int64
	WALPreallocBytes    int64
	WALFlusherSlice     time.Duration
	WALRepair           bool

	// TLS as etcd's flags: with CertFile and KeyFile the client port serves
	// TLS; with ClientCertAuth clients must present a certificate signed by
	// TrustedCAFile.
	CertFile       string
	KeyFile        string
	TrustedCAFile  string
	ClientCertAuth bool

	// MaxRequestBytes is etcd's --max-request-bytes.
	MaxRequestBytes int
	// Limits (package server documents each): --max-concurrent-streams
	// (etcd's), --max-watchers-per-stream, --max-response-bytes and
	// --quota-backend-bytes (etcd's; negative: no quota).
	MaxConcurrentStreams uint32
	MaxWatchersPerStream int
	MaxResponseBytes     int
	QuotaBackendBytes    int64
	// ShutdownTimeout bounds how long in-flight requests may finish after a
	// signal before connections are closed.
	ShutdownTimeout time.Duration
	// Transport is what serves the client port (--transport, env
	// MEMETCD_TRANSPORT): "lean" (the default: memetcd's own HTTP/2
	// transport, server/transport, which handles a request on its
	// connection's reader) or "grpc" (grpc-go's server).
	Transport string
}

// Transports --transport takes.
const (
	TransportGRPC = "grpc"
	TransportLean = "lean"
)

// DefaultConfig returns the flag defaults.
func DefaultConfig() Config {
	return Config{
		ListenAddress:   "127.0.0.1",
		Port:            2379,
		MetricsPort:     9000,
		WALDir:          "./wal",
		WALDefault:      "buffered",
		MaxRequestBytes: server.DefaultMaxRequestBytes,
		ShutdownTimeout: 10 * time.Second,
		Transport:       TransportLean,

		MaxConcurrentStreams: server.DefaultMaxConcurrentStreams,
		MaxWatchersPerStream: server.DefaultMaxWatchersPerStream,
		MaxResponseBytes:     server.DefaultMaxResponseBytes,
		QuotaBackendBytes:    server.DefaultQuotaBackendBytes,

		WALFlushInterval:    10 * time.Millisecond,
		WALSyncInterval:     wal.DefaultSyncInterval,
		WALSnapshotInterval: 5 * time.Minute,
		WALSegmentBytes:     64 << 20,
		WALPreallocBytes:    wal.DefaultPreallocBytes,
		WALFlusherSlice:     wal.DefaultFlusherSlice,
	}
}

// Validate reports flag combinations that cannot work.
func (c *Config) Validate() error {
	if (c.CertFile == "") != (c.KeyFile == "") {
		return fmt.Errorf("--cert-file and --key-file must be given together")
	}
	if c.ClientCertAuth && (c.TrustedCAFile == "" || c.CertFile == "") {
		return fmt.Errorf("--client-cert-auth needs --trusted-ca-file and --cert-file/--key-file")
	}
	switch c.WALDefault {
	case "none", "buffered", "fsync":
	default:
		return fmt.Errorf("--wal-default %q: want none, buffered or fsync", c.WALDefault)
	}
	if c.Transport != TransportGRPC && c.Transport != TransportLean {
		return fmt.Errorf("--transport %q: want %s or %s", c.Transport, TransportGRPC, TransportLean)
	}
	if c.MaxRequestBytes <= 0 {
		return fmt.Errorf("--max-request-bytes must be positive")
	}
	if c.MaxConcurrentStreams == 0 || c.MaxWatchersPerStream <= 0 || c.MaxResponseBytes <= 0 {
		return fmt.Errorf("--max-concurrent-streams, --max-watchers-per-stream and --max-response-bytes must be positive")
	}
	if c.QuotaBackendBytes == 0 {
		return fmt.Errorf("--quota-backend-bytes 0 would refuse every write: give a size, or a negative value for no quota")
	}
	return nil
}
