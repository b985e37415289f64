package relay

import (
	"fmt"
	"testing"
	"time"

	relayv1 "github.com/k8s1m/k8s1m/proto/relay/v1"
)

// keyGatheredBy finds a key that v hashes to gatherer and then to next.
func keyGatheredBy(t *testing.T, v *view, gatherer string, then *view, next string, prefix string) string {
	t.Helper()
	for i := range 100000 {
		k := fmt.Sprintf("%s/pod-%d", prefix, i)
		if v.gatherer(k) == gatherer && then.gatherer(k) == next {
			return k
		}
	}
	t.Fatalf("no key gathered by %s", gatherer)
	return ""
}

type nopSink struct{}

func (nopSink) sendVerdict(*relayv1.Verdict) {}

// TestBackupGatherDecidesAfterGrace: a member that gathers an item only
// because a reporter re-routed its score there (its own view hashes the key to
// another member) decides at the deadline only backupGrace later, so the
// chosen gatherer's decision reaches the origin first; it decides at the
// deadline once the item turns out to be its own (it comes by scatter naming
// it, or the member it was re-routed from leaves its view).
func TestBackupGatherDecidesAfterGrace(t *testing.T) {
	cfg := DefaultLocalConfig()
	cfg.DecisionGrace, cfg.VerdictGrace = 6*time.Second, 6*time.Second
	r := bareRelay(t, cfg, "g", "a", "b")
	grace := r.gather.backupGrace()
	if grace != 3*time.Second {
		t.Fatalf("backup grace %v, want 3s", grace)
	}
	v := r.cur.Load()
	without := newView(0, map[string]Member{"g": {Name: "g", Role: RoleScheduler}, "b": {Name: "b", Role: RoleScheduler}})
	keys := map[string]string{
		"own":       keyGatheredBy(t, v, "g", without, "g", "own"),
		"backup":    keyGatheredBy(t, v, "a", without, "b", "backup"),
		"scattered": keyGatheredBy(t, v, "a", without, "b", "scattered"),
		"left":      keyGatheredBy(t, v, "a", without, "g", "left"),
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	ids := map[string]itemID{}
	var n uint64
	for name, key := range keys {
		n++
		ids[name] = itemID{origin: "g", id: n}
		r.gather.report(&relayv1.Score{RequestId: n, Key: key, Origin: "g", DeadlineUnixNano: deadline.UnixNano(), Member: "b", Node: "b-node", Score: 1}, nopSink{})
	}
	rec := func(name string) (backup, decided bool, at time.Time) {
		id := ids[name]
		s := r.gather.shard(id)
		s.mu.Lock()
		defer s.mu.Unlock()
		rc := s.recs[id]
		return rc.backup, rc.decided, rc.decidedAt
	}
	for name, want := range map[string]bool{"own": false, "backup": true, "scattered": true, "left": true} {
		if backup, _, _ := rec(name); backup != want {
			t.Fatalf("%s: backup=%v, want %v", name, backup, want)
		}
	}
	// The scatter item naming this member arrives; "a" leaves the view.
	r.gather.open(&relayv1.Item{RequestId: ids["scattered"].id, Key: keys["scattered"], Origin: "g", Gatherer: "g", DeadlineUnixNano: deadline.UnixNano()})
	r.gather.membersChanged(r.setView("g", "b"))

	eventually(t, 10*time.Second, func() error {
		for name := range keys {
			if _, decided, _ := rec(name); !decided {
				return fmt.Errorf("%s undecided", name)
			}
		}
		return nil
	})
	for name := range keys {
		backup, _, at := rec(name)
		switch {
		case at.Before(deadline):
			t.Errorf("%s decided %v before its deadline", name, deadline.Sub(at))
		case name == "backup" && at.Before(deadline.Add(grace)):
			t.Errorf("backup gather decided %v after the deadline, want %v or more", at.Sub(deadline), grace)
		case name != "backup" && !at.Before(deadline.Add(grace)):
			t.Errorf("%s decided %v after the deadline, as a backup", name, at.Sub(deadline))
		case name != "backup" && backup:
			t.Errorf("%s still a backup", name)
		}
	}
}

// TestBackupGathererLeavesOutKeysOwn: a reporter that cannot reach the
// gatherer an item names re-routes its score to a member that is neither that
// gatherer nor the key's own (which would take the item as its own and decide
// at the deadline with only the re-routed scores); when the named gatherer is
// the key's own, to the next by hash; with only the two of them, to the
// key's own.
func TestBackupGathererLeavesOutKeysOwn(t *testing.T) {
	byName := map[string]Member{}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		byName[n] = Member{Name: n, Role: RoleScheduler}
	}
	v := newView(1, byName)
	for i := range 200 {
		key := fmt.Sprintf("backup/pod-%d", i)
		own := v.gatherer(key)
		if got, want := v.backupGatherer(key, own), v.gathererExcept(key, own); got != want || got == own {
			t.Fatalf("%s: backup for its own gatherer %s is %s, want %s", key, own, got, want)
		}
		for chosen := range byName {
			if chosen == own {
				continue
			}
			if got := v.backupGatherer(key, chosen); got == chosen || got == own || got == "" {
				t.Fatalf("%s (own gatherer %s), chosen %s: backup %q", key, own, chosen, got)
			}
		}
	}
	two := newView(2, map[string]Member{"a": {Name: "a", Role: RoleScheduler}, "b": {Name: "b", Role: RoleScheduler}})
	for i := range 50 {
		key := fmt.Sprintf("two/pod-%d", i)
		own := two.gatherer(key)
		other := "a"
		if own == "a" {
			other = "b"
		}
		if got := two.backupGatherer(key, other); got != own {
			t.Fatalf("%s: two members, chosen %s unreachable: backup %q, want %s", key, other, got, own)
		}
	}
}
