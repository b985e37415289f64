// Package store is memetcd's in-memory MVCC key-value store: one global revision,
// keys kept per top-level Kubernetes resource prefix, per-key history back to the
// compaction point, leases with expiry, and the ordered event log that feeds
// watches. It knows nothing of gRPC (package server) or of disk (package wal,
// through the Journal interface in journal.go).
package store
