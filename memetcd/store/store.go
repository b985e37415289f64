package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Config configures a Store. The zero value works: no journal, real clock.
type Config struct {
	// Journal receives every change under the write lock. Nil means NopJournal.
	Journal Journal
	// Log receives lease expiry and journal failure reports.
	Log zerolog.Logger
	// Metrics, if non-nil, is updated on every change (see NewMetrics).
	Metrics *Metrics
	// Now is the clock leases expire by; nil means time.Now.
	Now func() time.Time
	// MinLeaseTTL raises shorter granted TTLs to this many seconds, as etcd
	// does (2 with its default election timeout). Default 2.
	MinLeaseTTL int64
	// LeaseCheckInterval is how often expired leases are looked for (default 500ms).
	// A lease is revoked at most this long after its expiry.
	LeaseCheckInterval time.Duration
}

// Store is the in-memory MVCC store. All methods are safe for concurrent use.
//
// Lock order: Store.mu only; the journal's Append runs under it and must not
// call back into the store.
type Store struct {
	cfg Config

	mu         sync.RWMutex // guards every field below
	rev        int64        // revision of the last change; 1 when empty, like etcd
	compactRev int64        // history below this revision is gone (0: never compacted)
	keys       keyspace
	live       int64 // keys whose latest record is not a tombstone
	liveBytes  int64 // key+value bytes of live keys
	events     []Event
	changed    chan struct{} // closed and replaced whenever events are appended
	onPublish  func([]Event) // see OnPublish; under mu
	leases     map[int64]*lease
	failed     error // set once a journal wait fails; every later write is refused
	closed     bool

	stop chan struct{}
	done chan struct{}
}

// New returns an empty store at revision 1 and starts its lease expiry loop;
// Close stops it.
func New(cfg Config) *Store {
	if cfg.Journal == nil {
		cfg.Journal = NopJournal{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MinLeaseTTL <= 0 {
		cfg.MinLeaseTTL = 2
	}
	if cfg.LeaseCheckInterval <= 0 {
		cfg.LeaseCheckInterval = 500 * time.Millisecond
	}
	s := &Store{
		cfg:     cfg,
		rev:     1,
		keys:    newKeyspace(),
		changed: make(chan struct{}),
		leases:  map[int64]*lease{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go s.expireLoop()
	return s
}

// Close stops the lease expiry loop and refuses further requests. It does not
// wait for journal flushes: the journal's owner closes the journal after this.
func (s *Store) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.changed) // wake watchers so they see the store closed
	s.changed = make(chan struct{})
	if s.onPublish != nil {
		s.onPublish(nil)
	}
	s.mu.Unlock()
	close(s.stop)
	<-s.done
}

// Rev returns the current revision.
func (s *Store) Rev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// CompactRev returns the revision history was last compacted at (0: never).
func (s *Store) CompactRev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.compactRev
}

// Stats is a point-in-time summary for status and metrics.
type Stats struct {
	Rev, CompactRev int64
	Keys            int64 // live keys
	Bytes           int64 // live key+value bytes
	Leases          int
	Events          int // events kept for watches since the compaction point
	ReadOnly        bool
}

// Stats returns the store's current Stats.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Stats{Rev: s.rev, CompactRev: s.compactRev, Keys: s.live, Bytes: s.liveBytes,
		Leases: len(s.leases), Events: len(s.events), ReadOnly: s.failed != nil}
}

// writableLocked reports why a write must be refused, if it must.
func (s *Store) writableLocked() error {
	if s.closed {
		return ErrClosed
	}
	if s.failed != nil {
		return fmt.Errorf("%w: %v", ErrReadOnly, s.failed)
	}
	return nil
}

func (s *Store) readableLocked() error {
	if s.closed {
		return ErrClosed
	}
	return nil
}

// journalLocked hands c to the journal and wraps its Waiter so a failed wait
// turns the store read-only.
func (s *Store) journalLocked(c *Change) Waiter {
	return &guardedWaiter{s: s, w: s.cfg.Journal.Append(c)}
}

// fail makes the store read-only: a change the journal could not keep has been
// applied in memory, so acknowledging anything after it would be a lie.
func (s *Store) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = err
		s.cfg.Log.Error().Err(err).Int64("rev", s.rev).Msg("journal failed: store is now read-only")
		if s.cfg.Metrics != nil {
			s.cfg.Metrics.readOnly.Set(1)
		}
	}
}

type guardedWaiter struct {
	s *Store
	w Waiter
}

func (g *guardedWaiter) Wait(ctx context.Context) error {
	err := g.w.Wait(ctx)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return err // the caller gave up; the journal did not fail
	}
	g.s.fail(err)
	return fmt.Errorf("journal: %w", err)
}

// doneWaiter is the Waiter of a request that changed nothing.
type doneWaiter struct{}

func (doneWaiter) Wait(context.Context) error { return nil }
