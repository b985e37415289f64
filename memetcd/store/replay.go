package store

import (
	"fmt"
	"iter"
)

// This file is the durability side of the seam: package wal rebuilds a store
// at boot with Restore (from a snapshot) and Apply (each journaled Change in
// order), and takes snapshots with Snapshot. None of these call the Journal.

// Apply replays one journaled Change. Changes must come in the order the
// journal received them: a Change with puts or deletes must carry a revision
// above the store's, lease grants and compactions the current one.
func (s *Store) Apply(c *Change) error {
	_, err := s.ApplyBatch([]*Change{c})
	return err
}

// ApplyBatch replays changes in order, as Apply does each, under one lock
// and with one wake-up of watchers: boot applies a million changes, and the
// per-change lock, event-log append and channel swap were a large part of it.
// On error, applied is how many changes of cs went in before the one that
// failed.
func (s *Store) ApplyBatch(cs []*Change) (applied int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	t := &writeTxn{s: s}
	defer func() {
		if len(t.events) > 0 {
			s.publishLocked(t.events)
		}
	}()
	for i, c := range cs {
		if err := t.apply(c); err != nil {
			return i, err
		}
	}
	return len(cs), nil
}

// apply replays one change into t, whose events accumulate across a batch.
func (t *writeTxn) apply(c *Change) error {
	s := t.s
	advances := false
	for _, op := range c.Ops {
		if op.Type == OpPut || op.Type == OpDelete {
			advances = true
		}
	}
	if advances && c.Revision <= s.rev {
		return fmt.Errorf("apply change at revision %d: store is already at %d", c.Revision, s.rev)
	}
	t.rev = c.Revision
	t.change = Change{Revision: c.Revision, Ops: t.change.Ops[:0]} // not journaled: reuse
	for i, op := range c.Ops {
		switch op.Type {
		case OpPut:
			t.put(&PutRequest{Key: op.Key, Value: op.Value, Lease: op.LeaseID})
		case OpDelete:
			if e := s.keys.get(op.Key); e != nil {
				t.deleteEntry(e)
			}
		case OpLeaseGrant:
			s.grantLocked(op.LeaseID, op.TTL)
		case OpLeaseRevoke:
			// The keys it deleted follow as OpDelete ops of this Change.
			delete(s.leases, op.LeaseID)
		case OpCompact:
			if op.Revision > s.compactRev {
				// Events of this batch not yet published must be in the
				// log before compaction trims it.
				if len(t.events) > 0 {
					s.publishLocked(t.events)
					t.events = t.events[:0]
				}
				s.compactLocked(op.Revision)
			}
		default:
			return fmt.Errorf("apply change at revision %d: op %d has unknown type %d", c.Revision, i, op.Type)
		}
	}
	if advances {
		s.rev = c.Revision
	}
	return nil
}

// Snapshot calls fn with every live key at one revision and returns that
// revision, the leases and the compaction revision at the same instant. The
// live set is gathered under the read lock (values are shared, never copied)
// and fn runs after the lock is released, so a slow writer of the snapshot
// does not stall the store.
func (s *Store) Snapshot(fn func(kv KeyValue) error) (rev int64, leases []Lease, compactRev int64, err error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return 0, nil, 0, ErrClosed
	}
	rev, compactRev, leases = s.rev, s.compactRev, s.leasesLocked()
	kvs := make([]KeyValue, 0, s.live)
	s.keys.all(func(e *entry) bool {
		if r := e.latest(); r.version != 0 {
			kvs = append(kvs, e.kv(r))
		}
		return true
	})
	s.mu.RUnlock()
	for _, kv := range kvs {
		if err := fn(kv); err != nil {
			return 0, nil, 0, fmt.Errorf("snapshot at revision %d: %w", rev, err)
		}
	}
	return rev, leases, compactRev, nil
}

// Restore loads a snapshot into an empty store: keys keep their create and
// mod revisions and versions, and the store is at rev. History before the
// snapshot is not kept, so rev becomes the compaction point: older reads and
// watches get ErrCompacted rather than a wrong answer. Leases get a full TTL
// from now, as etcd does after a restart.
func (s *Store) Restore(rev, compactRev int64, leases []Lease, kvs iter.Seq[KeyValue]) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rev != 1 || s.live != 0 || len(s.leases) != 0 {
		return fmt.Errorf("restore snapshot at revision %d: store is not empty (revision %d)", rev, s.rev)
	}
	for _, l := range leases {
		s.grantLocked(l.ID, l.TTL)
	}
	for kv := range kvs {
		if kv.ModRevision > rev || kv.Version <= 0 {
			return fmt.Errorf("restore snapshot at revision %d: key %q has mod revision %d, version %d", rev, kv.Key, kv.ModRevision, kv.Version)
		}
		e := &entry{key: kv.Key, history: []record{{value: kv.Value, create: kv.CreateRevision, mod: kv.ModRevision, version: kv.Version, lease: kv.Lease}}}
		if !s.keys.insertNew(e) {
			return fmt.Errorf("restore snapshot at revision %d: key %q twice", rev, kv.Key)
		}
		s.live++
		s.liveBytes += int64(len(kv.Key) + len(kv.Value))
		if kv.Lease != 0 {
			s.attachLocked(kv.Lease, kv.Key)
		}
	}
	s.rev = rev
	s.compactRev = max(compactRev, rev)
	return nil
}
