package podpath

import "time"

// Reason is why the leader submits a pending pod again. The values are the
// reason label of distscheduler_intake_resubmitted_pods_total.
type Reason string

const (
	// NoWinner: nobody could place the pod (or its submission failed); its
	// backoff has ended.
	NoWinner Reason = "no_winner"
	// GivenBack: its winner's binding steps failed and the winner marked
	// it PodScheduled=False, SchedulerError.
	GivenBack Reason = "given_back"
	// WinnerLeft: its winner left the tree before binding it.
	WinnerLeft Reason = "winner_left"
	// UnboundWinner: still pending Recheck after a win.
	UnboundWinner Reason = "unbound_winner"
	// NoDecision: its item went Recheck without a decision. The tree decides
	// every item by its deadline, so the item was lost (a tree fault).
	NoDecision Reason = "no_decision"
)

// Reasons lists every Reason.
var Reasons = []Reason{NoWinner, GivenBack, WinnerLeft, UnboundWinner, NoDecision}

// Policy says when the leader submits a pending pod again.
type Policy struct {
	// InitialBackoff and MaxBackoff space the submissions of a pod nobody
	// could place: the n-th decision in a row without a winner waits
	// InitialBackoff × 2^(n-1), at most MaxBackoff.
	InitialBackoff, MaxBackoff time.Duration
	// Recheck is how long after a win a pod still pending is submitted
	// again although its winner is alive and did not give it back (a lost
	// status write, a Binding stuck in a slow API server). A second Binding
	// of a pod the first one bound is refused by the API server, so a
	// short Recheck costs requests, never a double binding. It is also how
	// long after its submission an item may go without a decision.
	Recheck time.Duration
}

// Complete fills in the defaults for items of the given gather deadline:
// backoff 1 s to 10 s (upstream's pod backoff), Recheck ten deadlines but
// at least 60 s.
func (p Policy) Complete(deadline time.Duration) Policy {
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = time.Second
	}
	if p.MaxBackoff < p.InitialBackoff {
		p.MaxBackoff = 10 * time.Second
	}
	if p.Recheck <= 0 {
		p.Recheck = max(60*time.Second, 10*deadline)
	}
	return p
}

// Attempts is the leader's record of one pending pod's submissions: the
// item in flight, the backoff after decisions without a winner, and the
// winner told to bind it. Its zero value is a pod never submitted. It is
// not safe for concurrent use (the intake guards it with its lock).
type Attempts struct {
	inFlight uint64    // request id of the item in flight, 0 when none
	sentAt   time.Time // when the item in flight was submitted
	noWinner int       // decisions without a winner in a row
	due      time.Time // end of the backoff; zero when none
	wonAt    time.Time // zero unless a winner holds the pod
	winner   string    // the member told to bind it, while wonAt is set
}

// InFlight is the request id of the item in flight, 0 when none.
func (a *Attempts) InFlight() uint64 { return a.inFlight }

// Winner is the member told to bind the pod, "" when none is.
func (a *Attempts) Winner() string { return a.winner }

// Submitted records the pod's item submitted at now as request id.
func (a *Attempts) Submitted(id uint64, now time.Time) {
	a.inFlight, a.sentAt = id, now
	a.wonAt, a.winner = time.Time{}, ""
}

// SubmitFailed backs the pod off for p.InitialBackoff: the tree refused its
// item.
func (a *Attempts) SubmitFailed(now time.Time, p Policy) {
	a.due = now.Add(p.InitialBackoff)
}

// Decided records request id's decision at now: winner, or "" for none.
func (a *Attempts) Decided(id uint64, winner string, now time.Time, p Policy) {
	if a.inFlight == id {
		a.inFlight = 0
	}
	if winner != "" {
		a.noWinner = 0
		a.wonAt, a.winner = now, winner
		return
	}
	a.noWinner++
	a.due = now.Add(min(p.InitialBackoff<<min(a.noWinner-1, 16), p.MaxBackoff))
}

// GiveBack takes the pod back from its winner (it marked the pod
// SchedulerError); false when no winner holds it or an item is in flight.
func (a *Attempts) GiveBack() bool {
	if a.wonAt.IsZero() || a.inFlight != 0 {
		return false
	}
	a.wonAt, a.winner = time.Time{}, ""
	return true
}

// Lost gives up on the item in flight when it has gone p.Recheck without a
// decision, returning its request id (a decision arriving later is to be
// ignored); 0 when there is none to give up on. Without it the item would
// hold its in-flight place, and the pod stay pending, for ever.
func (a *Attempts) Lost(now time.Time, p Policy) (id uint64) {
	if a.inFlight == 0 || now.Sub(a.sentAt) < p.Recheck {
		return 0
	}
	id, a.inFlight = a.inFlight, 0
	return id
}

// Age is how long the item in flight has waited for its decision.
func (a *Attempts) Age(now time.Time) time.Duration { return now.Sub(a.sentAt) }

// Due reports why the pod, with no item in flight, is to be submitted again
// at now, or "" when it is not: its winner left the tree (live says which
// members are in it; nil leaves such pods to Recheck), its winner has not
// bound it after p.Recheck, or its backoff ended.
func (a *Attempts) Due(now time.Time, p Policy, live func(member string) bool) Reason {
	if a.inFlight != 0 {
		return ""
	}
	if !a.wonAt.IsZero() {
		why := Reason("")
		switch {
		case live != nil && !live(a.winner):
			why = WinnerLeft
		case now.Sub(a.wonAt) >= p.Recheck:
			why = UnboundWinner
		}
		if why != "" {
			a.wonAt, a.winner = time.Time{}, ""
		}
		return why
	}
	if !a.due.IsZero() && !now.Before(a.due) {
		a.due = time.Time{}
		return NoWinner
	}
	return ""
}
