package cluster

import (
	"slices"
	"strings"
	"testing"
)

func TestDistTree(t *testing.T) {
	ports := make([]int, portsPerMember*4)
	for i := range ports {
		ports[i] = 40000 + i
	}
	tests := []struct {
		name               string
		schedulers, relays int
		wantNames          []string
		wantProcs          []string
	}{
		{name: "single member", schedulers: 1, wantNames: []string{"scheduler-0"}, wantProcs: []string{"distscheduler-0"}},
		{name: "three and a relay", schedulers: 3, relays: 1,
			wantNames: []string{"scheduler-0", "scheduler-1", "scheduler-2", "relay-0"},
			wantProcs: []string{"distscheduler-0", "distscheduler-1", "distscheduler-2", "distscheduler-relay-0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := distTree(tt.schedulers, tt.relays, ports)
			var names, procs []string
			used := map[string]bool{}
			for _, m := range tree {
				names, procs = append(names, m.name), append(procs, m.proc)
				for _, a := range []string{m.grpcAddr, m.httpAddr, m.gossipAddr + ":" + m.gossipPort, m.webhookAddr} {
					if used[a] || !strings.HasPrefix(a, "127.0.0.1:") {
						t.Errorf("member %s: address %s reused or not loopback", m.name, a)
					}
					used[a] = true
				}
				if m.relayOnly != strings.HasPrefix(m.name, "relay-") {
					t.Errorf("member %s: relayOnly %v", m.name, m.relayOnly)
				}
			}
			if !slices.Equal(names, tt.wantNames) || !slices.Equal(procs, tt.wantProcs) {
				t.Errorf("names %v procs %v, want %v %v", names, procs, tt.wantNames, tt.wantProcs)
			}
		})
	}
}

func TestDistMemberArgs(t *testing.T) {
	ports := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	flag := func(args []string, name string) (string, bool) {
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
				return v, true
			}
			if a == "--"+name {
				return "", true
			}
		}
		return "", false
	}

	alone := distTree(1, 0, ports)
	args := alone[0].args("cfg.yaml", "admin.kubeconfig", alone)
	for _, f := range []string{"seeds", "gossip-port", "relay-only", "insecure-tree"} {
		if _, ok := flag(args, f); ok {
			t.Errorf("single member gets --%s: %v", f, args)
		}
	}
	if v, _ := flag(args, "member-name"); v != "scheduler-0" {
		t.Errorf("--member-name %q", v)
	}
	if v, _ := flag(args, "webhook-addr"); v != alone[0].webhookAddr {
		t.Errorf("--webhook-addr %q, want %s", v, alone[0].webhookAddr)
	}
	if _, ok := flag(args, "also-default-scheduler"); !ok {
		t.Errorf("no --also-default-scheduler: pods without a schedulerName would stay pending: %v", args)
	}

	tree := distTree(2, 1, ports)
	seed := "127.0.0.1:3"
	for _, m := range tree {
		args := m.args("cfg.yaml", "admin.kubeconfig", tree)
		if v, _ := flag(args, "member-name"); v != m.name {
			t.Errorf("%s: --member-name %q", m.name, v)
		}
		if v, _ := flag(args, "gossip-port"); v != m.gossipPort {
			t.Errorf("%s: --gossip-port %q, want %s", m.name, v, m.gossipPort)
		}
		// Every member joins through the first, the first through itself.
		if s, _ := flag(args, "seeds"); s != seed {
			t.Errorf("%s: --seeds %q, want the first member's gossip address %s", m.name, s, seed)
		}
		if _, ok := flag(args, "relay-only"); ok != m.relayOnly {
			t.Errorf("%s: --relay-only %v, want %v", m.name, ok, m.relayOnly)
		}
		// Loopback tree: insecure, said explicitly (see README, Security).
		if _, ok := flag(args, "insecure-tree"); !ok {
			t.Errorf("%s: no --insecure-tree for its loopback tree: %v", m.name, args)
		}
	}
}
