package main

import (
	"slices"
	"testing"
)

func TestWithSysmonAwake(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     []string
		want    []string
		changed bool
	}{
		{"no GODEBUG", []string{"A=1"}, []string{"A=1", "GODEBUG=" + sysmonAwake}, true},
		{"empty GODEBUG", []string{"GODEBUG=", "A=1"}, []string{"GODEBUG=" + sysmonAwake, "A=1"}, true},
		{"other settings kept", []string{"GODEBUG=gctrace=1"}, []string{"GODEBUG=gctrace=1," + sysmonAwake}, true},
		{"the user's schedtrace wins", []string{"GODEBUG=gctrace=1,schedtrace=1000"}, []string{"GODEBUG=gctrace=1,schedtrace=1000"}, false},
		{"already re-executed", []string{"GODEBUG=" + sysmonAwake}, []string{"GODEBUG=" + sysmonAwake}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := withSysmonAwake(tc.env)
			if changed != tc.changed || !slices.Equal(got, tc.want) {
				t.Errorf("withSysmonAwake(%q) = %q, %v; want %q, %v", tc.env, got, changed, tc.want, tc.changed)
			}
		})
	}
}
