package store

import (
	"sort"
)

// The event log is every change since the compaction point in revision order.
// It is the single source every watcher reads from: a watcher is just a
// position in this log, so a slow watcher catches up by reading on from where it
// was, and one that fell below the compaction point is told so. Entries are
// never modified after they are appended and compaction builds a new slice, so a
// reader may keep a sub-slice after releasing the lock.

// publishLocked appends events and wakes every waiting reader.
func (s *Store) publishLocked(evs []Event) {
	if n := len(s.events) + len(evs); n > cap(s.events) {
		// Double rather than let append grow a long log by a quarter at a
		// time: the copies of a million-event log (replay, write storms)
		// were most of the cost of publishing. Readers hold sub-slices
		// capped at their length, so the old array stays valid for them.
		grown := make([]Event, len(s.events), max(2*cap(s.events), n, 1024))
		copy(grown, s.events)
		s.events = grown
	}
	s.events = append(s.events, evs...)
	close(s.changed)
	s.changed = make(chan struct{})
	if s.onPublish != nil {
		s.onPublish(evs)
	}
}

// OnPublish makes fn see every run of events as it is appended to the log,
// in revision order, and nil once when the store closes. fn runs under the
// store's write lock, on the writer's goroutine: it must be quick and must
// not call the store. It replaces any earlier fn; a store already closed
// calls it with nil at once.
//
// A watch server uses it to find the watchers an event concerns without a
// goroutine of its own: each such goroutine's wake-up per write was a large
// part of a small write's cost.
func (s *Store) OnPublish(fn func(evs []Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onPublish = fn
	if s.closed && fn != nil {
		fn(nil)
	}
}

// Changed returns a channel that is closed at the next change (or at Close).
// Take it before reading, so a change between the read and the wait is not missed.
func (s *Store) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}

// EventBatch is a run of the event log.
type EventBatch struct {
	Events     []Event // ascending ModRevision; never splits one revision
	Rev        int64   // store revision when read: every event <= Rev was considered
	CompactRev int64   // the compaction revision when read (with ErrCompacted: the one the reader fell below)
}

// ReadEvents returns events with revision >= from, at most about max of them
// (a revision is never split, so a Txn may exceed max). Reading below the
// compaction point returns ErrCompacted with CompactRev set, as etcd cancels
// such watches.
func (s *Store) ReadEvents(from int64, max int) (EventBatch, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return EventBatch{Rev: s.rev}, ErrClosed
	}
	if from < s.compactRev {
		return EventBatch{Rev: s.rev, CompactRev: s.compactRev}, ErrCompacted
	}
	i := sort.Search(len(s.events), func(i int) bool { return s.events[i].KV.ModRevision >= from })
	j := len(s.events)
	if max > 0 && j-i > max {
		j = i + max
		// Extend to the end of the revision of the last included event.
		last := s.events[j-1].KV.ModRevision
		for j < len(s.events) && s.events[j].KV.ModRevision == last {
			j++
		}
		return EventBatch{Events: s.events[i:j:j], Rev: last, CompactRev: s.compactRev}, nil
	}
	return EventBatch{Events: s.events[i:j:j], Rev: s.rev, CompactRev: s.compactRev}, nil
}
