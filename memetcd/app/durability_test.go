package app

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/rs/zerolog"
)

// These tests run the whole process (flags -> Config -> WAL -> store -> gRPC)
// in-process on loopback ports, stop it gracefully and start it again on the
// same --wal-dir.

// boot starts memetcd with cfg and returns a client and a stop function that
// shuts it down the way SIGTERM does.
func boot(t *testing.T, cfg Config) (*clientv3.Client, func()) {
	t.Helper()
	cfg.Port, cfg.MetricsPort = 0, 0
	a, err := New(zerolog.New(zerolog.NewTestWriter(t)), cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{a.ClientAddr()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		c.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
	t.Cleanup(stop)
	return c, stop
}

func TestRestartKeepsDataPerMode(t *testing.T) {
	tests := []struct {
		mode     string
		noWrite  []string
		wantKeys int64
	}{
		{mode: "fsync", wantKeys: 4},
		{mode: "buffered", wantKeys: 4},
		{mode: "none", wantKeys: 0},
		{mode: "fsync", noWrite: []string{"/registry/events/"}, wantKeys: 3},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/nowrite=%v", tt.mode, tt.noWrite), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.WALDir = filepath.Join(t.TempDir(), "wal")
			cfg.WALDefault = tt.mode
			cfg.WALNoWritePrefixes = tt.noWrite
			c, stop := boot(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			lease, err := c.Grant(ctx, 3600)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"/registry/pods/ns/a", "/registry/nodes/n1", "/registry/events/ns/e"} {
				if _, err := c.Put(ctx, k, "v", clientv3.WithLease(lease.ID)); err != nil {
					t.Fatal(err)
				}
			}
			txn, err := c.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision("/registry/pods/ns/b"), "=", 0)).
				Then(clientv3.OpPut("/registry/pods/ns/b", "created")).Commit()
			if err != nil || !txn.Succeeded {
				t.Fatalf("txn: %v %v", txn, err)
			}
			before, err := c.Get(ctx, "/registry/", clientv3.WithPrefix())
			if err != nil {
				t.Fatal(err)
			}
			stop()

			c2, _ := boot(t, cfg)
			after, err := c2.Get(ctx, "/registry/", clientv3.WithPrefix())
			if err != nil {
				t.Fatal(err)
			}
			if after.Count != tt.wantKeys {
				t.Fatalf("%d keys after restart, want %d", after.Count, tt.wantKeys)
			}
			if tt.wantKeys == 0 {
				return
			}
			if tt.noWrite == nil && after.Header.Revision != before.Header.Revision {
				t.Errorf("revision %d after restart, was %d", after.Header.Revision, before.Header.Revision)
			}
			want := map[string]int64{}
			for _, kv := range before.Kvs {
				want[string(kv.Key)] = kv.ModRevision
			}
			for _, kv := range after.Kvs {
				if want[string(kv.Key)] != kv.ModRevision {
					t.Errorf("%s: mod revision %d after restart, was %d", kv.Key, kv.ModRevision, want[string(kv.Key)])
				}
			}
			ttl, err := c2.TimeToLive(ctx, lease.ID, clientv3.WithAttachedKeys())
			if err != nil || ttl.TTL <= 0 || int64(len(ttl.Keys)) != tt.wantKeys-1 {
				t.Errorf("lease after restart: %+v %v", ttl, err)
			}
		})
	}
}

func TestSnapshotIntervalAndRestart(t *testing.T) {
	cfg := DefaultConfig()
	cfg.WALDir = filepath.Join(t.TempDir(), "wal")
	cfg.WALDefault = "fsync"
	cfg.WALSnapshotInterval = 20 * time.Millisecond
	c, stop := boot(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 50 {
		if _, err := c.Put(ctx, fmt.Sprintf("/registry/pods/ns/p%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		snaps, _ := filepath.Glob(filepath.Join(cfg.WALDir, "snap-*.snap"))
		if len(snaps) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no snapshot written")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c.Put(ctx, "/registry/pods/ns/last", "v"); err != nil {
		t.Fatal(err)
	}
	stop()
	c2, _ := boot(t, cfg)
	got, err := c2.Get(ctx, "/registry/pods/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || got.Count != 51 {
		t.Fatalf("after restart: %v keys, err %v", got.Count, err)
	}
}

func TestBadWALFlags(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"bad prefix mode", func(c *Config) { c.WALPrefixModes = []string{"/registry/=sometimes"} }},
		{"prefix twice", func(c *Config) {
			c.WALPrefixModes = []string{"/x/=fsync"}
			c.WALNoWritePrefixes = []string{"/x/"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.WALDir = t.TempDir()
			cfg.Port, cfg.MetricsPort = 0, 0
			tt.mutate(&cfg)
			if _, err := New(zerolog.Nop(), cfg); err == nil {
				t.Fatal("New accepted bad flags")
			}
		})
	}
}
