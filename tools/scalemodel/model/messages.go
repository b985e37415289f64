package model

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
	// WatchEvents is what the apiservers send members about the pod: every
	// member's pod informer gets its create, its binding and its status
	// change (distscheduler/README.md, Intake). Not costed: no figure yet.
	WatchEvents int
}

// MessagesPerPod counts one pod's messages in a tree of the given size.
func MessagesPerPod(members, relays int) Messages {
	return Messages{
		TreeItems: members - 1 + relays,
		Reports:   members, Verdicts: members, Decisions: 1,
		APIWrites:   apiWritesPerPod,
		WatchEvents: 3 * members,
	}
}

// Total is every message the pod causes.
func (m Messages) Total() int {
	return m.TreeItems + m.Reports + m.Verdicts + m.Decisions + m.APIWrites + m.WatchEvents
}
