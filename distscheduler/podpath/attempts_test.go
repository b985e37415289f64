package podpath

import (
	"testing"
	"time"
)

var (
	t0     = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	policy = Policy{}.Complete(time.Second)
)

func TestPolicyDefaults(t *testing.T) {
	if policy.InitialBackoff != time.Second || policy.MaxBackoff != 10*time.Second || policy.Recheck != 60*time.Second {
		t.Fatalf("defaults %+v", policy)
	}
	if got := (Policy{}).Complete(30 * time.Second).Recheck; got != 300*time.Second {
		t.Errorf("Recheck for a 30 s deadline = %v, want ten deadlines", got)
	}
	set := Policy{InitialBackoff: 2 * time.Second, MaxBackoff: time.Minute, Recheck: time.Second}
	if got := set.Complete(time.Second); got != set {
		t.Errorf("Complete changed set fields: %+v", got)
	}
}

// A pod nobody can place waits 1, 2, 4, 8, 10, 10 s between submissions;
// a win resets the backoff.
func TestNoWinnerBacksOff(t *testing.T) {
	var a Attempts
	now := t0
	for i, want := range []time.Duration{1, 2, 4, 8, 10, 10} {
		a.Submitted(uint64(i+1), now)
		a.Decided(uint64(i+1), "", now, policy)
		if a.InFlight() != 0 {
			t.Fatalf("attempt %d: still in flight after its decision", i)
		}
		if why := a.Due(now.Add(want*time.Second-time.Nanosecond), policy, nil); why != "" {
			t.Fatalf("attempt %d: due %q before its %v backoff ended", i, why, want*time.Second)
		}
		now = now.Add(want * time.Second)
		if why := a.Due(now, policy, nil); why != NoWinner {
			t.Fatalf("attempt %d: Due = %q after %v, want %q", i, why, want*time.Second, NoWinner)
		}
		if why := a.Due(now, policy, nil); why != "" {
			t.Fatalf("attempt %d: due twice (%q)", i, why)
		}
	}
	a.Submitted(100, now)
	a.Decided(100, "m1", now, policy)
	a.Submitted(101, now)
	a.Decided(101, "", now, policy)
	if why := a.Due(now.Add(time.Second), policy, nil); why != NoWinner {
		t.Fatalf("after a win the backoff starts again at 1 s: Due = %q", why)
	}
}

func TestWonPodSubmittedAgain(t *testing.T) {
	alive := func(m string) bool { return m == "m1" }
	gone := func(string) bool { return false }
	won := func() *Attempts {
		a := &Attempts{}
		a.Submitted(1, t0)
		a.Decided(1, "m1", t0, policy)
		return a
	}
	tests := []struct {
		name string
		at   time.Duration
		live func(string) bool
		want Reason
	}{
		{"winner alive and silent", policy.Recheck - time.Nanosecond, alive, ""},
		{"winner unknown (no member list)", policy.Recheck - time.Nanosecond, nil, ""},
		{"winner left", time.Millisecond, gone, WinnerLeft},
		{"never bound", policy.Recheck, alive, UnboundWinner},
		{"never bound, no member list", policy.Recheck, nil, UnboundWinner},
	}
	for _, tt := range tests {
		a := won()
		if got := a.Due(t0.Add(tt.at), policy, tt.live); got != tt.want {
			t.Errorf("%s: Due = %q, want %q", tt.name, got, tt.want)
		}
		if tt.want != "" && a.Winner() != "" {
			t.Errorf("%s: winner %q kept after resubmission", tt.name, a.Winner())
		}
	}

	a := won()
	if !a.GiveBack() || a.Winner() != "" {
		t.Fatalf("GiveBack of a won pod refused (winner %q)", a.Winner())
	}
	if a.GiveBack() {
		t.Error("GiveBack twice")
	}
	if why := a.Due(t0.Add(policy.Recheck), policy, gone); why != "" {
		t.Errorf("given-back pod due again (%q)", why)
	}
}

// An item in flight is not resubmitted, except when it went Recheck without
// a decision (the intake then ignores its late decision).
func TestLostItem(t *testing.T) {
	var a Attempts
	a.Submitted(7, t0)
	if a.GiveBack() {
		t.Error("GiveBack with an item in flight")
	}
	if why := a.Due(t0.Add(time.Hour), policy, nil); why != "" {
		t.Errorf("Due = %q with an item in flight", why)
	}
	if id := a.Lost(t0.Add(policy.Recheck-time.Nanosecond), policy); id != 0 {
		t.Fatalf("item lost after %v", policy.Recheck-time.Nanosecond)
	}
	if id := a.Lost(t0.Add(policy.Recheck), policy); id != 7 || a.InFlight() != 0 {
		t.Fatalf("Lost = %d, in flight %d; want 7, 0", id, a.InFlight())
	}
	if id := a.Lost(t0.Add(2*policy.Recheck), policy); id != 0 {
		t.Errorf("lost twice: %d", id)
	}
}

func TestSubmitFailedWaitsInitialBackoff(t *testing.T) {
	var a Attempts
	a.SubmitFailed(t0, policy)
	if why := a.Due(t0.Add(policy.InitialBackoff-time.Nanosecond), policy, nil); why != "" {
		t.Fatalf("due %q before the backoff", why)
	}
	if why := a.Due(t0.Add(policy.InitialBackoff), policy, nil); why != NoWinner {
		t.Fatalf("Due = %q, want %q", why, NoWinner)
	}
}
