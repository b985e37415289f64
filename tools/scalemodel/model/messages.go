package model

import "math"

// Messages counts what one pod costs in messages.
type Messages struct {
	// Tree: the item reaches every member once; each scheduling member
	// reports its bid to the pod's gatherer, which sends each a verdict and
	// the root one decision (relay/BENCHMARKS.md counts them unbatched; the
	// streams batch reports and verdicts several to a gRPC message).
	TreeItems, Reports, Verdicts, Decisions int
	// APIWrites are the pod's writes to the kube-apiserver (create, Binding,
	// status, event).
	APIWrites int
	// WatchEvents is what the apiservers send members about the pod:
	// member_pod_events to each member (its pod informer sees the create, the
	// binding and the status change: distscheduler/README.md, Intake).
	WatchEvents int
}

// MessagesPerPod counts one pod's messages in a tree of the given size, each
// member getting eventsPerMember watch events about it.
func MessagesPerPod(members, relays int, eventsPerMember float64) Messages {
	return Messages{
		TreeItems: members - 1 + relays,
		Reports:   members, Verdicts: members, Decisions: 1,
		APIWrites:   apiWritesPerPod,
		WatchEvents: int(math.Round(eventsPerMember * float64(members))),
	}
}

// Total is every message the pod causes.
func (m Messages) Total() int {
	return m.TreeItems + m.Reports + m.Verdicts + m.Decisions + m.APIWrites + m.WatchEvents
}
