// Package podpath holds the rules of a pending pod's path through
// distscheduler that its two ends, the leader and the members, must agree
// on. The path:
//
//  1. The leader's intake (package intake) takes a pod that is still
//     distscheduler's to place (Pending), from its watch or the admission
//     webhook, and submits one tree item for it, named by Key.
//  2. Every scheduling member (package cycle) bids on the item; a member
//     that already holds the pod (a win whose Binding is under way) bids its
//     node again instead of searching.
//  3. The tree decides. The winner binds; a winner whose binding steps fail
//     gives the pod back (MarkNotScheduled, SchedulerError). With no winner
//     the intake marks the pod Unschedulable.
//  4. The intake keeps each pod's Attempts and submits the pod again, for
//     one of the Reasons, while it stays pending: after a backoff when
//     nobody could place it, at once when its winner gave it back or left
//     the tree, and after Policy.Recheck when its winner never bound it or
//     its item was never decided (lost).
//
// What each end does with these rules (the watch, the ready queue, the
// scheduling loops, the binding) stays in intake and cycle.
package podpath
