package app

import (
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/store"
	"github.com/k8s1m/k8s1m/localcluster/cluster"
)

func valid() Config {
	return Config{Store: store.Memetcd, Scheduler: cluster.KubeScheduler, Schedulers: 1, Nodes: 10, Pods: 10, Build: "never", NodeShards: NodeShardsCreator}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "no pods is fine (up only)", mutate: func(c *Config) { c.Pods = 0 }},
		{name: "pods without nodes", mutate: func(c *Config) { c.Nodes = 0 }, wantErr: "needs at least one node"},
		{name: "more pods than nodes hold", mutate: func(c *Config) { c.Pods = 1101 }, wantErr: "110 pods each"},
		{name: "unknown store", mutate: func(c *Config) { c.Store = "consul" }, wantErr: "--store"},
		{name: "unknown scheduler", mutate: func(c *Config) { c.Scheduler = "volcano" }, wantErr: "--scheduler"},
		{name: "distscheduler without members", mutate: func(c *Config) { c.Scheduler, c.Schedulers = cluster.DistScheduler, 0 }, wantErr: "--schedulers"},
		{name: "one member and a relay", mutate: func(c *Config) { c.Scheduler, c.Schedulers, c.Relays = cluster.DistScheduler, 1, 1 }, wantErr: "multi-member"},
		{name: "two members and a relay", mutate: func(c *Config) { c.Scheduler, c.Schedulers, c.Relays = cluster.DistScheduler, 2, 1 }},
		{name: "negative kwok boost", mutate: func(c *Config) { c.KwokPriorityBoost = -1 }, wantErr: "--kwok-priority-boost"},
		{name: "kwok boost past the range", mutate: func(c *Config) { c.KwokPriorityBoost = 40 }, wantErr: "--kwok-priority-boost"},
		{name: "negative zones", mutate: func(c *Config) { c.Zones = -1 }, wantErr: "--zones"},
		{name: "no zones", mutate: func(c *Config) { c.Zones = 0 }},
		{name: "node shards by webhook", mutate: func(c *Config) { c.NodeShards = NodeShardsWebhook }},
		{name: "unknown node shards", mutate: func(c *Config) { c.NodeShards = "leader" }, wantErr: "--node-shards"},
		{name: "negative relays", mutate: func(c *Config) { c.Relays = -1 }, wantErr: "--relays"},
		{name: "lease under a second", mutate: func(c *Config) { c.NodeLeaseDuration = 500 * time.Millisecond }, wantErr: "--node-lease-duration"},
		{name: "negative lease", mutate: func(c *Config) { c.NodeLeaseDuration = -time.Second }, wantErr: "--node-lease-duration"},
		{name: "ten-minute lease", mutate: func(c *Config) { c.NodeLeaseDuration = 10 * time.Minute }},
		{name: "bad build mode", mutate: func(c *Config) { c.Build = "sometimes" }, wantErr: "--build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			err := c.validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("validate = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestKwokSplit(t *testing.T) {
	tests := []struct {
		nodes, kwoks, perKwok int
		wantKwoks, wantPer    int
	}{
		{nodes: 1000, perKwok: 10000, wantKwoks: 1, wantPer: 1000},
		{nodes: 50000, perKwok: 10000, wantKwoks: 5, wantPer: 10000},
		{nodes: 25000, perKwok: 10000, wantKwoks: 3, wantPer: 8334},
		{nodes: 100, kwoks: 4, wantKwoks: 4, wantPer: 25},
		{nodes: 0, perKwok: 10000, wantKwoks: 1, wantPer: 1},
	}
	for _, tt := range tests {
		c := Config{Nodes: tt.nodes, Kwoks: tt.kwoks, PerKwok: tt.perKwok}
		if k, p := c.kwoks(), c.perKwok(); k != tt.wantKwoks || p != tt.wantPer {
			t.Errorf("%d nodes (kwoks %d, per %d): got %d kwoks x %d, want %d x %d", tt.nodes, tt.kwoks, tt.perKwok, k, p, tt.wantKwoks, tt.wantPer)
		}
		// Every node's group must have a controller.
		if tt.nodes > 0 && (tt.nodes-1)/c.perKwok() >= c.kwoks() {
			t.Errorf("%d nodes: last node's kwok-group %d has no controller (%d)", tt.nodes, (tt.nodes-1)/c.perKwok(), c.kwoks())
		}
	}
}

func TestNeeded(t *testing.T) {
	c := valid()
	if got := strings.Join(c.needed(), ","); got != "memetcd,kube-apiserver,kwok,kube-scheduler" {
		t.Errorf("kube-scheduler stack needs %s", got)
	}
	c.Scheduler, c.Relays = cluster.DistScheduler, 1
	if got := strings.Join(c.needed(), ","); got != "memetcd,kube-apiserver,kwok,distscheduler" {
		t.Errorf("distscheduler stack needs %s", got)
	}
}

func TestPerUnitMs(t *testing.T) {
	start := map[string]float64{"store": 1, "kube-apiserver": 10}
	end := map[string]float64{"store": 3, "kube-apiserver": 30, "scheduler": 5}
	got := perUnitMs(end, start, 1000)
	want := map[string]float64{"store": 2, "kube-apiserver": 20, "scheduler": 5}
	for role, w := range want {
		if got[role] != w {
			t.Errorf("%s: %.3f ms per pod, want %.3f", role, got[role], w)
		}
	}
	if len(perUnitMs(end, start, 0)) != 0 {
		t.Error("0 pods gave figures")
	}
}
