package distpermit

import (
	"sync"
	"time"

	fwk "k8s.io/kube-scheduler/framework"
)

// pendingKey is where node selection records a gather still in flight.
const pendingKey fwk.StateKey = "k8s1m.io/" + Name + "-pending"

// Pending is a gather verdict that has not arrived yet: node selection bids
// for the pod, records a Pending for the node it bid and lets the scheduling
// cycle go on, so the member's single scheduling goroutine never waits on the
// tree. Permit parks the pod (upstream's waiting pods) until the verdict
// resolves the Pending: a win lets it bind, anything else rejects it and
// upstream unreserves it.
type Pending struct {
	node    string
	timeout time.Duration

	once   sync.Once
	done   chan struct{}
	won    bool   // written once before done is closed
	reason string // why the pod may not bind here, when !won
}

// NewPending returns an unresolved verdict for a bid on node. timeout bounds
// how long Permit keeps the pod waiting if the verdict never comes.
func NewPending(node string, timeout time.Duration) *Pending {
	return &Pending{node: node, timeout: timeout, done: make(chan struct{})}
}

// Node is the node the member bid.
func (p *Pending) Node() string { return p.node }

// Win resolves the verdict: this member binds the pod to its node.
func (p *Pending) Win() { p.resolve(true, "") }

// Lose resolves the verdict: the pod must not bind here, for reason.
func (p *Pending) Lose(reason string) { p.resolve(false, reason) }

func (p *Pending) resolve(won bool, reason string) {
	p.once.Do(func() {
		p.won, p.reason = won, reason
		close(p.done)
	})
}

// Done is closed once the verdict is known.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Result is the verdict; valid once Done is closed.
func (p *Pending) Result() (won bool, reason string) { return p.won, p.reason }

// Clone implements fwk.StateData: the record is shared, never copied.
func (p *Pending) Clone() fwk.StateData { return p }

// RecordPending stores a verdict in flight in the pod's cycle state.
func RecordPending(state fwk.CycleState, p *Pending) {
	state.Write(pendingKey, p)
}

// PendingOf returns the verdict in flight recorded for the pod, if any.
func PendingOf(state fwk.CycleState) (*Pending, bool) {
	d, err := state.Read(pendingKey)
	if err != nil {
		return nil, false
	}
	p, ok := d.(*Pending)
	return p, ok
}
