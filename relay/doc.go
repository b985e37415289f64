// Package relay lets many scheduler processes act as one: membership by gossip,
// a tree computed from the member list, scatter of work items down the tree and
// gather of the members' scores at one member per item.
//
// The package knows nothing of Kubernetes. An Item is an opaque payload with a
// key ("namespace/name"); a scheduling member answers it with a Score (its best
// node, or no feasible node); the item's gatherer picks the best score when every
// scheduling member has reported or at the item's deadline, tells each reporter
// whether it won (Verdict), and tells the item's origin the outcome (Decision).
//
// Who the root (the leader) is, is not decided here: whoever calls Submit is the
// root of the tree for those items, and the caller makes sure only one member does
// (distscheduler holds a Kubernetes Lease). Every member computes the same tree
// from the same member list (package tree), so there is no tree to agree on.
//
// A typical scheduling member:
//
//	cfg := relay.DefaultConfig()
//	cfg.Name, cfg.Role = "sched-7", relay.RoleScheduler
//	cfg.Handler = relay.HandlerFunc(func(it relay.Item) { queue <- it })
//	r, err := relay.New(cfg)
//	...
//	_, err = r.Join(ctx, seeds...)
//	// for each item from queue, after filtering and scoring:
//	v, err := r.ReportWait(ctx, it, relay.Score{Node: best, Score: s})
//	if v.Win { bind }
//
// and the root:
//
//	err := r.Submit(relay.Item{Key: "ns/pod", Payload: b})
//	// outcomes arrive at cfg.Decisions.HandleDecision
//
// Guarantees: every submitted item gets exactly one Decision at its origin (from
// the gatherer, or from the origin's own backstop when no gatherer answered by the
// deadline plus DecisionGrace); a gatherer decides an item once and tells every
// reporter the same answer, including reporters that ask again after reconnecting.
// What is not guaranteed: if the gatherer dies, the reporters re-report to a
// fallback gatherer hashed over their own views; two members that disagree about
// membership at that moment could pick different fallbacks. Kubernetes binding
// (one bind per pod) is the final guard there.
package relay
