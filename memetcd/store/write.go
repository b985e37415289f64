package store

import (
	"bytes"

	"github.com/k8s1m/k8s1m/memetcd/keys"
)

// writeTxn applies the mutations of one revision. Every mutation is applied to
// the keyspace at once (so later reads in the same Txn see it) and recorded both
// as a journal Op and as watch Events; commit publishes them together.
type writeTxn struct {
	s      *Store
	rev    int64 // the revision these changes get: s.rev+1
	change Change
	events []Event
}

func (s *Store) beginLocked() *writeTxn {
	return &writeTxn{s: s, rev: s.rev + 1, change: Change{Revision: s.rev + 1}}
}

// commit advances the revision if anything changed, publishes the events to
// watchers and hands the change to the journal.
func (t *writeTxn) commit() Waiter {
	s := t.s
	if len(t.events) == 0 {
		if len(t.change.Ops) == 0 {
			return doneWaiter{}
		}
		// Only lease ops (a revoke of a lease without keys): no new revision.
		t.change.Revision = s.rev
		return s.journalLocked(&t.change)
	}
	s.rev = t.rev
	s.publishLocked(t.events)
	if m := s.cfg.Metrics; m != nil {
		m.observeCommit(t.events)
	}
	return s.journalLocked(&t.change)
}

// checkPut validates a put against the state before the transaction, so a Txn
// fails before it has changed anything.
func (t *writeTxn) checkPut(p *PutRequest) error {
	if (p.IgnoreValue || p.IgnoreLease) && t.s.current(p.Key) == nil {
		return ErrKeyNotFound
	}
	if p.Lease != 0 && !p.IgnoreLease {
		if _, ok := t.s.leases[p.Lease]; !ok {
			return ErrLeaseNotFound
		}
	}
	return nil
}

// current returns the key's live record, or nil if it is absent or deleted.
func (s *Store) current(key []byte) *record {
	e := s.keys.get(key)
	if e == nil {
		return nil
	}
	if r := e.latest(); r.version != 0 {
		return r
	}
	return nil
}

// put applies a validated put and returns the previous value, if any.
func (t *writeTxn) put(p *PutRequest) *KeyValue {
	s := t.s
	e := s.keys.get(p.Key)
	var prevKV *KeyValue
	rec := record{value: p.Value, create: t.rev, mod: t.rev, version: 1, lease: p.Lease}
	if e != nil {
		if prev := e.latest(); prev.version != 0 {
			kv := e.kv(prev)
			prevKV = &kv
			rec.create, rec.version = prev.create, prev.version+1
			if p.IgnoreValue {
				rec.value = prev.value
			}
			if p.IgnoreLease {
				rec.lease = prev.lease
			}
		}
	}
	if e == nil {
		// One record, exact capacity: most keys are written once between
		// compactions, and this slice is most of a key's overhead.
		e = &entry{key: p.Key, history: make([]record, 0, 1)}
		s.keys.insert(e)
	}
	if prevKV != nil {
		s.liveBytes += int64(len(rec.value) - len(prevKV.Value))
		if prevKV.Lease != rec.lease {
			s.detachLocked(prevKV.Lease, e.key)
		}
	} else {
		s.live++
		s.liveBytes += int64(len(e.key) + len(rec.value))
	}
	if rec.lease != 0 {
		s.attachLocked(rec.lease, e.key)
	}
	e.history = append(e.history, rec)
	t.events = append(t.events, Event{Type: EventPut, KV: e.kv(e.latest()), PrevKV: prevKV})
	t.change.Ops = append(t.change.Ops, Op{Type: OpPut, Key: e.key, Value: rec.value, LeaseID: rec.lease})
	return prevKV
}

// deleteEntry writes a tombstone for a live key and returns what it held.
func (t *writeTxn) deleteEntry(e *entry) (KeyValue, bool) {
	s := t.s
	prev := e.latest()
	if prev.version == 0 {
		return KeyValue{}, false
	}
	prevKV := e.kv(prev)
	s.detachLocked(prev.lease, e.key)
	s.live--
	s.liveBytes -= int64(len(e.key) + len(prev.value))
	e.history = append(e.history, record{mod: t.rev})
	t.events = append(t.events, Event{Type: EventDelete, KV: KeyValue{Key: e.key, ModRevision: t.rev}, PrevKV: &prevKV})
	t.change.Ops = append(t.change.Ops, Op{Type: OpDelete, Key: e.key})
	return prevKV, true
}

// deleteRange deletes one key (end nil) or every live key in the range.
func (t *writeTxn) deleteRange(d *DeleteRequest) *DeleteResult {
	res := &DeleteResult{}
	del := func(e *entry) bool {
		if kv, ok := t.deleteEntry(e); ok {
			res.Deleted++
			if d.PrevKV {
				res.PrevKVs = append(res.PrevKVs, kv)
			}
		}
		return true
	}
	if d.End == nil {
		if e := t.s.keys.get(d.Key); e != nil {
			del(e)
		}
		return res
	}
	rng := keys.Parse(d.Key, d.End).Range
	// Tombstones change no tree structure, so deleting while ascending is safe.
	t.s.keys.ascend(rng.Start, rng.End, del)
	return res
}

// Put sets a key. The Waiter must be waited on before the result is reported.
func (s *Store) Put(p *PutRequest) (*PutResult, Waiter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writableLocked(); err != nil {
		return nil, nil, err
	}
	t := s.beginLocked()
	if err := t.checkPut(p); err != nil {
		return nil, nil, err
	}
	prev := t.put(p)
	w := t.commit()
	res := &PutResult{Rev: s.rev}
	if p.PrevKV {
		res.PrevKV = prev
	}
	return res, w, nil
}

// DeleteRange deletes a key or range; deleting nothing does not advance the
// revision.
func (s *Store) DeleteRange(d *DeleteRequest) (*DeleteResult, Waiter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writableLocked(); err != nil {
		return nil, nil, err
	}
	t := s.beginLocked()
	res := t.deleteRange(d)
	w := t.commit()
	res.Rev = s.rev
	return res, w, nil
}

// Txn runs a transaction as one revision.
func (s *Store) Txn(req *TxnRequest) (*TxnResult, Waiter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.readableLocked(); err != nil {
		return nil, nil, err
	}
	t := s.beginLocked()
	// Every compare, nested ones too, is decided against the state before
	// the transaction, as etcd does; only then is anything applied.
	plan := t.decide(req)
	ok := plan.ok
	branch := req.Failure
	if ok {
		branch = req.Success
	}
	if hasWrites(branch) {
		if err := s.writableLocked(); err != nil {
			return nil, nil, err
		}
	}
	if err := t.checkOps(branch); err != nil {
		return nil, nil, err
	}
	// checkOps checked every op that can fail, so a Txn that gets here
	// applies all of its branch or, above, nothing.
	res := t.run(branch, plan)
	w := t.commit()
	out := &TxnResult{Succeeded: ok, Results: res, Rev: s.rev}
	out.setRev(s.rev)
	return out, w, nil
}

func (r *TxnResult) setRev(rev int64) {
	r.Rev = rev
	for _, op := range r.Results {
		switch {
		case op.Range != nil:
			op.Range.Rev = rev
		case op.Put != nil:
			op.Put.Rev = rev
		case op.Delete != nil:
			op.Delete.Rev = rev
		case op.Txn != nil:
			op.Txn.setRev(rev)
		}
	}
}

func hasWrites(ops []TxnOp) bool {
	for _, op := range ops {
		if op.Put != nil || op.Delete != nil {
			return true
		}
		if op.Txn != nil && (hasWrites(op.Txn.Success) || hasWrites(op.Txn.Failure)) {
			return true
		}
	}
	return false
}

// checkOps validates every op of a branch that can fail (puts, and ranges at
// a revision), before anything is applied; nested transactions are checked
// in both branches since which one runs is decided later.
func (t *writeTxn) checkOps(ops []TxnOp) error {
	for _, op := range ops {
		switch {
		case op.Put != nil:
			if err := t.checkPut(op.Put); err != nil {
				return err
			}
		case op.Range != nil:
			if _, err := t.s.readRevLocked(op.Range, t.rev); err != nil {
				return err
			}
		case op.Txn != nil:
			if err := t.checkOps(op.Txn.Success); err != nil {
				return err
			}
			if err := t.checkOps(op.Txn.Failure); err != nil {
				return err
			}
		}
	}
	return nil
}

// decision is which branch a Txn takes, and recursively its nested Txns
// (keyed by their index in the chosen branch).
type decision struct {
	ok     bool
	nested map[int]*decision
}

func (t *writeTxn) decide(req *TxnRequest) *decision {
	d := &decision{ok: t.compares(req.Compare)}
	branch := req.Failure
	if d.ok {
		branch = req.Success
	}
	for i, op := range branch {
		if op.Txn != nil {
			if d.nested == nil {
				d.nested = map[int]*decision{}
			}
			d.nested[i] = t.decide(op.Txn)
		}
	}
	return d
}

// run applies a branch that checkOps accepted; nothing in it can fail.
func (t *writeTxn) run(ops []TxnOp, plan *decision) []TxnOpResult {
	out := make([]TxnOpResult, len(ops))
	for i, op := range ops {
		switch {
		case op.Range != nil:
			readRev, _ := t.s.readRevLocked(op.Range, t.rev) // checked by checkOps
			out[i].Range = t.s.rangeAtLocked(op.Range, readRev)
		case op.Put != nil:
			prev := t.put(op.Put)
			pr := &PutResult{}
			if op.Put.PrevKV {
				pr.PrevKV = prev
			}
			out[i].Put = pr
		case op.Delete != nil:
			out[i].Delete = t.deleteRange(op.Delete)
		case op.Txn != nil:
			d := plan.nested[i]
			branch := op.Txn.Failure
			if d.ok {
				branch = op.Txn.Success
			}
			out[i].Txn = &TxnResult{Succeeded: d.ok, Results: t.run(branch, d)}
		}
	}
	return out
}

// compares reports whether every compare holds against the current state.
func (t *writeTxn) compares(cs []Compare) bool {
	for i := range cs {
		if !t.compare(&cs[i]) {
			return false
		}
	}
	return true
}

func (t *writeTxn) compare(c *Compare) bool {
	if c.End == nil {
		r := t.s.current(c.Key)
		if r == nil {
			if c.Target == CompareValue {
				return false // etcd: a value compare on a missing key fails
			}
			return compareRecord(c, &record{})
		}
		return compareRecord(c, r)
	}
	rng := keys.Parse(c.Key, c.End).Range
	ok := true
	t.s.keys.ascend(rng.Start, rng.End, func(e *entry) bool {
		if r := e.latest(); r.version != 0 {
			ok = compareRecord(c, r)
		}
		return ok
	})
	return ok
}

func compareRecord(c *Compare, r *record) bool {
	var res int
	switch c.Target {
	case CompareValue:
		res = bytes.Compare(r.value, c.Value)
	case CompareVersion:
		res = cmpInt(r.version, c.Int)
	case CompareCreate:
		res = cmpInt(r.create, c.Int)
	case CompareMod:
		res = cmpInt(r.mod, c.Int)
	case CompareLease:
		res = cmpInt(r.lease, c.Int)
	}
	switch c.Result {
	case CompareEqual:
		return res == 0
	case CompareNotEqual:
		return res != 0
	case CompareGreater:
		return res > 0
	case CompareLess:
		return res < 0
	}
	return false
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
