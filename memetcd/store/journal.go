package store

import "context"

// This file is the seam between the in-memory store and durability (package wal).
// The store decides revisions and applies changes; a Journal makes them durable.
// The store never imports wal; wal imports these types.

// OpType is the kind of one mutation inside a Change.
type OpType uint8

const (
	OpPut         OpType = 1 // key set to value (with lease)
	OpDelete      OpType = 2 // key deleted (one Op per deleted key, never a range)
	OpLeaseGrant  OpType = 3 // lease LeaseID granted with TTL seconds
	OpLeaseRevoke OpType = 4 // lease LeaseID revoked or expired (its key deletions are OpDelete ops in the same Change)
	OpCompact     OpType = 5 // history below Revision compacted
)

// Op is one mutation, fully resolved: a DeleteRange becomes one OpDelete per key
// it removed, so replay never needs to re-evaluate a range or a Txn compare.
type Op struct {
	Type    OpType
	Key     []byte // OpPut, OpDelete
	Value   []byte // OpPut
	LeaseID int64  // OpPut (0 = none), OpLeaseGrant, OpLeaseRevoke
	TTL     int64  // OpLeaseGrant: seconds
	// Revision is the compaction revision of an OpCompact (Change.Revision is
	// the current revision, as for every change that does not advance it).
	Revision int64
}

// Change is everything one revision did: a Put, a DeleteRange, a Txn (all its
// ops), a lease expiry (revoke + deletions). Lease grants and compactions do not
// advance the revision; they carry the current revision and are ordered after
// the Change of that revision.
type Change struct {
	Revision int64
	Ops      []Op
}

// Journal makes Changes durable. The store calls Append while holding its write
// lock, in revision order, so the journal sees one total order. Append must not
// block on disk: it enqueues and returns a Waiter. The store's caller (the gRPC
// handler) calls Wait after releasing the lock and before replying, so writes
// that share a flush share an fsync (group commit). For a mode that does not
// wait (none, buffered) Wait never waits on the disk (a buffered journal may
// write to the OS there, outside the store's lock).
type Journal interface {
	Append(c *Change) Waiter
}

// Waiter reports when a Change is as durable as its prefix's mode promises.
// A non-nil error means the change must not be acknowledged to the client.
type Waiter interface {
	Wait(ctx context.Context) error
}

// NopJournal keeps nothing (mode none everywhere).
type NopJournal struct{}

func (NopJournal) Append(*Change) Waiter { return done{} }

type done struct{}

func (done) Wait(context.Context) error { return nil }

// DurableReader is implemented by a Journal whose writers wait for the disk
// after the store has applied their change (the WAL's fsync mode). Between
// the two, readers can already see the change; Durable returns a Waiter that
// is done once every change up to revision rev (lease grants and compactions
// carry the revision current when they were made) is as durable as its mode
// promises, so a reply that reveals state at rev can wait on it first.
type DurableReader interface {
	Durable(rev int64) Waiter
}

// Durable returns a Waiter for state at rev to be durable (see
// DurableReader); done at once when the journal acknowledges on apply. Its
// error means the state must not be shown to a client.
func (s *Store) Durable(rev int64) Waiter {
	if d, ok := s.cfg.Journal.(DurableReader); ok {
		return d.Durable(rev)
	}
	return done{}
}
