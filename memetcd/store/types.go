package store

import (
	"errors"
	"time"
)

// Sentinel errors callers branch on; package server maps each to etcd's gRPC error.
var (
	ErrCompacted     = errors.New("mvcc: required revision has been compacted")
	ErrFutureRev     = errors.New("mvcc: required revision is a future revision")
	ErrLeaseNotFound = errors.New("lease not found")
	ErrLeaseExists   = errors.New("lease already exists")
	ErrLeaseTTL      = errors.New("lease TTL out of range")
	ErrKeyNotFound   = errors.New("key not found") // Put with ignore_value/ignore_lease on a missing key
	ErrClosed        = errors.New("store closed")
	// ErrReadOnly is returned for writes after the journal failed to make a
	// change durable: like etcd treating a WAL error as fatal, the store stops
	// accepting writes rather than acknowledge changes it cannot keep.
	ErrReadOnly = errors.New("store is read-only after a journal failure")
)

// MaxLeaseTTL is etcd's upper bound on a lease TTL in seconds.
const MaxLeaseTTL = 9_000_000_000

// KeyValue is one key at one revision, as a Range or a watch event returns it.
// Value shares the bytes the store holds: callers must not modify it.
type KeyValue struct {
	Key            []byte
	Value          []byte
	CreateRevision int64
	ModRevision    int64
	Version        int64
	Lease          int64
}

// EventType says whether an Event put or deleted its key.
type EventType uint8

const (
	EventPut    EventType = 0 // same numbering as mvccpb.Event_EventType
	EventDelete EventType = 1
)

// Event is one key change in the ordered event log. For a delete, KV carries
// the key and ModRevision of the deletion only, as etcd's delete events do.
type Event struct {
	Type   EventType
	KV     KeyValue
	PrevKV *KeyValue // nil when the key did not exist before
}

// Lease is a granted lease as the journal snapshot and TimeToLive see it.
type Lease struct {
	ID  int64
	TTL int64 // granted TTL, seconds
}

// LeaseInfo is a lease's state for TimeToLive.
type LeaseInfo struct {
	ID           int64
	GrantedTTL   int64
	RemainingTTL int64 // seconds, rounded up like etcd
	Keys         [][]byte
	Expiry       time.Time
}
