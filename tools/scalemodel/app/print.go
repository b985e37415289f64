package app

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/k8s1m/k8s1m/tools/scalemodel/model"
)

func printPlan(w io.Writer, r model.PlanResult) {
	c := r.Cluster
	if r.MeetsTarget {
		fmt.Fprintf(w, "%d nodes, %d pods: %d scheduling members schedule every pod in %.0f s (target %.0f s).\n",
			c.Nodes, c.Pods, r.Members, r.ScheduleS, r.TargetS)
	} else {
		fmt.Fprintf(w, "%d nodes, %d pods: NO member count up to %d reaches %.0f s; the fastest configuration within 10%% of the best is %.0f s with %d members (more members shrink only the shard term).\n",
			c.Nodes, c.Pods, r.MaxMembers, r.TargetS, r.ScheduleS, r.Members)
	}
	b := r.Bottleneck()
	fmt.Fprintf(w, "Bound by: %s at %.0f pods/s; the figure that dominates it: %s.\n\n", b.Name, b.PodsPerS, b.Figure)
}

func printPrediction(w io.Writer, p model.Prediction) {
	c, m := p.Cluster, p.Machines
	fmt.Fprintf(w, "Configuration: %d nodes, %d pods, Leases renewed every %.0f s; %d scheduling members, %d relay-only members (fanout %d, depth %d).\n",
		c.Nodes, c.Pods, c.LeaseRenewS, p.Members, p.Relays, m.Fanout, p.Depth)
	fmt.Fprintf(w, "Time to schedule %d pods: %.1f s at %.0f pods/s (original: 71 s with 256 schedulers and 29 relays).\n", c.Pods, p.ScheduleS, p.PodsPerS)
	fmt.Fprintf(w, "Pods in flight to keep that rate: %d, i.e. distscheduler --num-concurrent-schedulers >= %d.\n\n", p.InFlight, p.NumConcurrentSchedulers)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "component\tcount\tcores each\tcores used each\tbusy\tmemory each\tnote")
	var cores, mem float64
	for _, co := range p.Components {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.0f%%\t%.1f GiB\t%s\n", co.Name, co.Count, co.CoresEach, co.CoresUsed,
			100*co.CoresUsed/co.CoresEach, co.MemGiB, co.Note)
		cores += float64(co.Count) * co.CoresEach
		mem += float64(co.Count) * co.MemGiB
	}
	tw.Flush()
	fmt.Fprintf(w, "In all: %d machines, %.0f cores, %.0f GiB.\n\n", machines(p), cores, mem)

	fmt.Fprintln(w, "Limits on pods/s, lowest first (the figure to cut to raise each):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, l := range p.Limits {
		fmt.Fprintf(tw, "  %s\t%.0f pods/s\t%s\n", l.Name, l.PodsPerS, l.Figure)
	}
	tw.Flush()
	if !p.Feasible {
		fmt.Fprintf(w, "NOT FEASIBLE: %s\n", p.Problem)
	}

	ms := p.Messages
	fmt.Fprintf(w, "\nMessages per pod: %d tree items, %d reports, %d verdicts, %d decision (unbatched), %d apiserver writes, %d watch events to members; %d in all.\n",
		ms.TreeItems, ms.Reports, ms.Verdicts, ms.Decisions, ms.APIWrites, ms.WatchEvents, ms.Total())
	fmt.Fprintf(w, "Per second at %.0f pods/s: %.3g messages.\n", p.PodsPerS, float64(ms.Total())*p.PodsPerS)
}

func machines(p model.Prediction) int {
	n := 0
	for _, c := range p.Components {
		n += c.Count
	}
	return n
}

func printSensitivities(w io.Writer, ss []model.Sensitivity) {
	fmt.Fprintln(w, "\nHow the answer moves (re-planned with one figure changed):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range ss {
		if math.IsNaN(s.ScheduleS) {
			fmt.Fprintf(tw, "  %s\t-\t%s\n", s.What, s.Bound)
			continue
		}
		fmt.Fprintf(tw, "  %s\t%.0f s with %d members, %d apiservers\tbound by %s\n", s.What, s.ScheduleS, s.Members, s.APIServers, s.Bound)
	}
	tw.Flush()
}

func printTFVars(w io.Writer, p model.Prediction, cmdPath string) error {
	vars := p.TFVars()
	fmt.Fprintf(w, "# terraform variables of this answer (%s)\n", cmdPath)
	for _, name := range model.TFVarNames {
		if _, err := fmt.Fprintf(w, "%s = %d\n", name, vars[name]); err != nil {
			return err
		}
	}
	return nil
}

func printCheck(w io.Writer, rows []model.CheckRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "localcluster run\tfigure\tmodel\tmeasured\terror\t")
	for _, r := range rows {
		note := ""
		if r.Diagnostic {
			note = "(diagnostic: where the CPU goes)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%+.0f%%\t%s\n", r.Run, r.Figure, r.Predicted, r.Measured, 100*r.Err, note)
	}
	tw.Flush()
}
