package cluster

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestControllerManagerArgs(t *testing.T) {
	tests := []struct {
		lease     time.Duration
		wantGrace string
	}{
		{DefaultNodeLeaseDuration, "50s"}, // the kubelet's 40 s Lease and upstream's default grace
		{10 * time.Minute, "12m30s"},      // a long Lease must not make nodes NotReady between renewals
	}
	for _, tt := range tests {
		args := controllerManagerArgs("admin.kubeconfig", "ca.crt", "sa.key", "certs", 10257, tt.lease)
		flags := map[string]string{}
		for _, a := range args {
			k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			flags[k] = v
		}
		if got := flags["node-monitor-grace-period"]; got != tt.wantGrace {
			t.Errorf("lease %s: --node-monitor-grace-period=%s, want %s", tt.lease, got, tt.wantGrace)
		}
		for k, want := range map[string]string{
			"bind-address":                     "127.0.0.1",
			"secure-port":                      "10257",
			"service-account-private-key-file": "sa.key",
			"root-ca-file":                     "ca.crt",
			"leader-elect":                     "false",
		} {
			if flags[k] != want {
				t.Errorf("--%s=%q, want %q", k, flags[k], want)
			}
		}
		ctrls := strings.Split(flags["controllers"], ",")
		for _, c := range []string{"deployment-controller", "replicaset-controller", "statefulset-controller", "job-controller",
			"garbage-collector-controller", "namespace-controller", "serviceaccount-controller",
			"serviceaccount-token-controller", "node-lifecycle-controller"} {
			if !slices.Contains(ctrls, c) {
				t.Errorf("--controllers lacks %s: %v", c, ctrls)
			}
		}
	}
}
