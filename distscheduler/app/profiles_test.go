package app

import (
	"slices"
	"strings"
	"testing"

	"github.com/k8s1m/k8s1m/distscheduler/plugins/distpermit"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
)

func TestWithDefaultSchedulerProfile(t *testing.T) {
	dist := func(name string) schedconfig.KubeSchedulerProfile {
		return schedconfig.KubeSchedulerProfile{
			SchedulerName: name,
			Plugins:       &schedconfig.Plugins{Permit: schedconfig.PluginSet{Enabled: []schedconfig.Plugin{{Name: distpermit.Name}}}},
		}
	}
	plain := func(name string) schedconfig.KubeSchedulerProfile {
		return schedconfig.KubeSchedulerProfile{SchedulerName: name, Plugins: &schedconfig.Plugins{}}
	}
	tests := []struct {
		name     string
		in       []schedconfig.KubeSchedulerProfile
		want     []string // scheduler names out
		copiedOf string   // whose plugins the new profile has ("": none added)
		wantErr  string
	}{
		{"dist profile copied", []schedconfig.KubeSchedulerProfile{dist("dist-scheduler")}, []string{"dist-scheduler", "default-scheduler"}, "dist-scheduler", ""},
		{"the DistPermit one, not the first", []schedconfig.KubeSchedulerProfile{plain("other"), dist("dist-scheduler")}, []string{"other", "dist-scheduler", "default-scheduler"}, "dist-scheduler", ""},
		{"no DistPermit: the first", []schedconfig.KubeSchedulerProfile{plain("a"), plain("b")}, []string{"a", "b", "default-scheduler"}, "a", ""},
		{"already served", []schedconfig.KubeSchedulerProfile{dist("dist-scheduler"), plain("default-scheduler")}, []string{"dist-scheduler", "default-scheduler"}, "", ""},
		{"no profiles", nil, nil, "", "no scheduler profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			out, err := withDefaultSchedulerProfile(in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range out {
				names = append(names, p.SchedulerName)
			}
			if !slices.Equal(names, tt.want) {
				t.Fatalf("profiles = %v, want %v", names, tt.want)
			}
			if tt.copiedOf == "" {
				return
			}
			added := out[len(out)-1]
			i := slices.IndexFunc(tt.in, func(p schedconfig.KubeSchedulerProfile) bool { return p.SchedulerName == tt.copiedOf })
			if enablesDistPermit(added) != enablesDistPermit(tt.in[i]) {
				t.Errorf("copy's DistPermit = %v, source's %v", enablesDistPermit(added), enablesDistPermit(tt.in[i]))
			}
			if added.Plugins == tt.in[i].Plugins {
				t.Error("the copy shares the source's plugins")
			}
			if tt.in[i].SchedulerName != tt.copiedOf {
				t.Errorf("source renamed to %q", tt.in[i].SchedulerName)
			}
		})
	}
}
