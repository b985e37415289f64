package app

import (
	"fmt"
	"slices"

	"github.com/k8s1m/k8s1m/distscheduler/plugins/distpermit"
	v1 "k8s.io/api/core/v1"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
)

// withDefaultSchedulerProfile returns profiles with one more, a copy of the
// distscheduler profile named default-scheduler, so pods that name no
// scheduler (the API server fills in default-scheduler) are scheduled by the
// sharded scheduler too, with the same plugins. That is what a cluster with
// no kube-scheduler needs (--also-default-scheduler). The copied profile is
// the first that enables DistPermit, else the first. Profiles that already
// serve default-scheduler are returned unchanged: it is served.
func withDefaultSchedulerProfile(profiles []schedconfig.KubeSchedulerProfile) ([]schedconfig.KubeSchedulerProfile, error) {
	if len(profiles) == 0 {
		return nil, fmt.Errorf("--also-default-scheduler: no scheduler profile to serve %s with", v1.DefaultSchedulerName)
	}
	if slices.ContainsFunc(profiles, func(p schedconfig.KubeSchedulerProfile) bool {
		return p.SchedulerName == v1.DefaultSchedulerName
	}) {
		return profiles, nil
	}
	src := 0
	if i := slices.IndexFunc(profiles, enablesDistPermit); i >= 0 {
		src = i
	}
	p := profiles[src].DeepCopy()
	p.SchedulerName = v1.DefaultSchedulerName
	return append(slices.Clone(profiles), *p), nil
}

func enablesDistPermit(p schedconfig.KubeSchedulerProfile) bool {
	return p.Plugins != nil && slices.ContainsFunc(p.Plugins.Permit.Enabled, func(pl schedconfig.Plugin) bool { return pl.Name == distpermit.Name })
}
