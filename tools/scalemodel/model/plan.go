package model

import (
	"fmt"
	"math"

	"github.com/k8s1m/k8s1m/tools/scalemodel/costs"
)

// PlanResult is the configuration the model chooses for a cluster and target.
type PlanResult struct {
	Prediction
	TargetS float64
	// MeetsTarget is false when no member count reaches the target; the
	// prediction is then the fastest configuration found.
	MeetsTarget bool
	// MaxMembers is the largest member count searched.
	MaxMembers int
}

// Plan searches member counts from 1 to one member per 100 nodes for the
// fewest members that schedule every pod within targetS seconds. When none
// does, it returns the fewest members within 10% of the fastest time found:
// the time then falls only slowly with more members (the shard term is small
// beside what does not shrink with it), and each member costs a machine.
func Plan(f *costs.Figures, c Cluster, m Machines, targetS float64) (PlanResult, error) {
	if err := c.Validate(); err != nil {
		return PlanResult{}, err
	}
	if err := m.Validate(); err != nil {
		return PlanResult{}, err
	}
	if targetS <= 0 {
		return PlanResult{}, fmt.Errorf("target %v s: must be positive", targetS)
	}
	maxM := max(1, c.Nodes/100)
	best := math.Inf(1)
	preds := make([]Prediction, 0, maxM)
	for members := 1; members <= maxM; members++ {
		p := Predict(f, c, m, members)
		if !p.Feasible {
			return PlanResult{Prediction: p, TargetS: targetS, MaxMembers: maxM}, fmt.Errorf("not feasible on these machines: %s", p.Problem)
		}
		if p.ScheduleS <= targetS {
			return PlanResult{Prediction: p, TargetS: targetS, MeetsTarget: true, MaxMembers: maxM}, nil
		}
		best = math.Min(best, p.ScheduleS)
		preds = append(preds, p)
	}
	for _, p := range preds {
		if p.ScheduleS <= best*nearBest {
			return PlanResult{Prediction: p, TargetS: targetS, MaxMembers: maxM}, nil
		}
	}
	panic("unreachable: the fastest prediction is within nearBest of itself")
}

// nearBest is how close to the fastest time a plan that misses its target
// must come.
const nearBest = 1.10

// Sensitivity is the planned time with one figure scaled.
type Sensitivity struct {
	What       string
	ScheduleS  float64
	Members    int
	APIServers int
	Bound      string
}

// Sensitivities re-plans with F and c changed, so the answer shows how it
// moves when the distscheduler figures do.
func Sensitivities(f *costs.Figures, c Cluster, m Machines, targetS float64) []Sensitivity {
	type change struct {
		what string
		set  func(*costs.Figures)
	}
	changes := []change{
		{"F halved", func(g *costs.Figures) { g.SchedFixedMs.Value /= 2 }},
		{"F = 0.25 ms (the rework's aim)", func(g *costs.Figures) { g.SchedFixedMs.Value = 0.25 }},
		{"c halved", func(g *costs.Figures) { g.SchedShardMsPer1K.Value /= 2 }},
		{"serial share of F halved", func(g *costs.Figures) { g.SchedSerialShare.Value /= 2 }},
		{"members watch no pods (member_pod_events = 0)", func(g *costs.Figures) { g.MemberPodEvents.Value = 0 }},
	}
	var out []Sensitivity
	for _, ch := range changes {
		g := *f
		ch.set(&g)
		r, err := Plan(&g, c, m, targetS)
		if err != nil {
			out = append(out, Sensitivity{What: ch.what, ScheduleS: math.NaN(), Bound: err.Error()})
			continue
		}
		out = append(out, Sensitivity{What: ch.what, ScheduleS: r.ScheduleS, Members: r.Members, APIServers: r.TFVars()["kube_apiserver_count"] + 1,
			Bound: fmt.Sprintf("%s (%s)", r.Bottleneck().Name, r.Bottleneck().Figure)})
	}
	return out
}
