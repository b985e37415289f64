package app

import (
	"strings"
	"testing"

	"github.com/k8s1m/k8s1m/distscheduler/plugins/distpermit"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
)

// The example from the original RUNNING guide must load and validate as
// upstream's scheduler loads it, with DistPermit on and preemption off.
func TestExampleConfig(t *testing.T) {
	cfg, err := options.LoadConfigFromFile(klog.Background(), "../examples/scheduler-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LeaderElection.LeaderElect {
		t.Error("leaderElect should be false: distscheduler elects its own leader")
	}
	if len(cfg.Profiles) != 1 {
		t.Fatalf("profiles = %d, want 1", len(cfg.Profiles))
	}
	p := cfg.Profiles[0]
	if p.SchedulerName != "dist-scheduler" {
		t.Errorf("schedulerName = %q", p.SchedulerName)
	}
	if p.PercentageOfNodesToScore == nil || *p.PercentageOfNodesToScore != 5 {
		t.Errorf("percentageOfNodesToScore = %v, want 5", p.PercentageOfNodesToScore)
	}
	has := func(list []string, name string) bool {
		for _, n := range list {
			if n == name {
				return true
			}
		}
		return false
	}
	var permit, postFilterDisabled []string
	for _, pl := range p.Plugins.Permit.Enabled {
		permit = append(permit, pl.Name)
	}
	for _, pl := range p.Plugins.PostFilter.Disabled {
		postFilterDisabled = append(postFilterDisabled, pl.Name)
	}
	if !has(permit, distpermit.Name) {
		t.Errorf("permit plugins %v lack %s", permit, distpermit.Name)
	}
	if !has(postFilterDisabled, "DefaultPreemption") {
		t.Errorf("postFilter disabled %v lacks DefaultPreemption", postFilterDisabled)
	}
	if cfg.Parallelism != 4 {
		t.Errorf("parallelism = %d, want 4", cfg.Parallelism)
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{
		Scheduler:               options.NewOptions(),
		Member:                  "member-0",
		NumConcurrentSchedulers: 8,
		WaitForSubschedulers:    1,
		LeaseNamespace:          "kube-system",
		LeaseName:               "dist-scheduler",
	}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"no member", func(c *Config) { c.Member = "" }, "member name"},
		{"member not a label value", func(c *Config) { c.Member = "a/b" }, "member name"},
		{"zero wait", func(c *Config) { c.WaitForSubschedulers = 0 }, "--wait-for-subschedulers"},
		{"zero schedulers", func(c *Config) { c.NumConcurrentSchedulers = 0 }, "--num-concurrent-schedulers"},
		{"no lease", func(c *Config) { c.LeaseName = "" }, "lease"},
		{"no options", func(c *Config) { c.Scheduler = nil }, "scheduler options"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
	if d := good.GatherDeadline(); d.Seconds() != 1 {
		t.Errorf("GatherDeadline = %v, want 1s", d)
	}
}
