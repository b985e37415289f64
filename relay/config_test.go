package relay

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; empty: valid
	}{
		{"default local", func(*Config) {}, ""},
		{"no name", func(c *Config) { c.Name = "" }, "name is empty"},
		{"bad role", func(c *Config) { c.Role = 0 }, "not a role"},
		{"fanout", func(c *Config) { c.Fanout = 0 }, "fanout"},
		{"batch", func(c *Config) { c.MaxBatch = 0 }, "max batch"},
		{"deadline", func(c *Config) { c.DefaultDeadline = 0 }, "default deadline"},
		{"key size", func(c *Config) { c.GossipKeys = [][]byte{make([]byte, 7)} }, "gossip key 0: key is 7 bytes"},
		{"no memberlist", func(c *Config) { c.Memberlist = nil }, "memberlist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultLocalConfig()
			cfg.Name = "m"
			tc.change(&cfg)
			err := cfg.validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestGossipKey: members sharing a key form a cluster; one with another key
// cannot join it.
func TestGossipKey(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	other := []byte("fedcba9876543210fedcba9876543210")
	start := func(name string, k []byte) *Relay {
		cfg := DefaultLocalConfig()
		cfg.Name, cfg.Role, cfg.GossipKeys, cfg.Logger = name, RoleScheduler, [][]byte{k}, zerolog.Nop()
		cfg.Memberlist.Logger = nil
		r, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Shutdown() })
		return r
	}
	a, b := start("a", key), start("b", key)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.Join(ctx, a.GossipAddr()); err != nil {
		t.Fatalf("same key: %v", err)
	}
	eventually(t, 10*time.Second, func() error {
		if len(a.Members()) != 2 {
			return context.DeadlineExceeded
		}
		return nil
	})
	stranger := start("stranger", other)
	if _, err := stranger.Join(ctx, a.GossipAddr()); err == nil {
		t.Fatal("member with another gossip key joined")
	}
	if len(a.Members()) != 2 || len(stranger.Members()) != 1 {
		t.Fatalf("membership after a refused join: %d, %d", len(a.Members()), len(stranger.Members()))
	}
}

// TestLeaveIsSeenAtOnce: a graceful leave reaches the others without failure
// detection, and the leaving member refuses further work.
func TestLeave(t *testing.T) {
	c := newTestCluster(t, uniqueScore)
	leader := c.start("leader", RoleLeaderEligible)
	b := c.start("b", RoleScheduler)
	c.converge()
	c.mu.Lock()
	delete(c.byName, "b")
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.r.Leave(ctx); err != nil {
		t.Fatalf("leave: %v", err)
	}
	eventually(t, 10*time.Second, func() error {
		if n := len(leader.r.Members()); n != 1 {
			return context.DeadlineExceeded
		}
		return nil
	})
	if err := b.r.Submit(Item{Key: "x/y"}); err != ErrClosed {
		t.Fatalf("submit after leave: %v", err)
	}
}
