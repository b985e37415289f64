// Package trim shapes the objects distscheduler's informers keep: without
// managed fields, which no scheduler reads and which are most of a small
// object's bytes, and, for the Nodes a scheduling member keeps in its
// informer and upstream's scheduler cache, with the names of the nodes it
// first sees packed side by side in memory.
//
// The packing is for upstream's node tree: every node added is compared by
// name with every node already in its zone (a linear scan of the zone's
// name list, pkg/scheduler/backend/cache/node_tree.go), 45% of a member's CPU
// while 50,000 nodes join (localcluster/BENCHMARKS.md). Each comparison
// reads a name's bytes; names decoded one Node at a time lie wherever the
// allocator put them, among everything else the member allocates, so on a
// machine whose caches the API server and the store keep cold every
// comparison is a miss. Names copied into one arena, in the order the nodes
// arrive (the order of the tree's lists), are read in address order, which
// the processor prefetches.
package trim

import (
	"sync"
	"unsafe"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/cache"
)

// chunkSize is the arena's unit of allocation: ~4,000 names of 16 bytes.
// A chunk stays in memory while any name in it is in use.
const chunkSize = 64 << 10

// maxPacked is the longest name packed; longer ones (rare: a name is at most
// 253 bytes) keep their own allocation.
const maxPacked = 128

// Names copies strings into shared chunks, one after the other. The zero
// value is ready; it is safe for concurrent use.
type Names struct {
	mu    sync.Mutex
	chunk []byte
}

// Pack returns a copy of s that lies right after the previous one packed.
func (a *Names) Pack(s string) string {
	if len(s) == 0 || len(s) > maxPacked {
		return s
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if cap(a.chunk)-len(a.chunk) < len(s) {
		a.chunk = make([]byte, 0, chunkSize)
	}
	start := len(a.chunk)
	a.chunk = append(a.chunk, s...)
	// The chunk's bytes up to len are never written again, so the string
	// stays immutable as Go requires.
	return unsafe.String(&a.chunk[start], len(s))
}

// ManagedFields is an informer's transform that drops each object's managed
// fields; objects without object metadata (a tombstone) pass unchanged.
func ManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil && a.GetManagedFields() != nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}

// Nodes is a node informer's transform: it drops each Node's managed
// fields and packs the name of a node the informer does not hold yet
// (held reports whether it does; the informer's indexer answers it). An
// update keeps whatever name it decoded: upstream's cache keeps the name
// of the node's first add in its node tree. Other objects (a tombstone)
// pass unchanged.
func Nodes(names *Names, held func(name string) bool) cache.TransformFunc {
	return func(obj any) (any, error) {
		n, ok := obj.(*v1.Node)
		if !ok {
			return obj, nil
		}
		n.ManagedFields = nil
		if !held(n.Name) {
			n.Name = names.Pack(n.Name)
		}
		return n, nil
	}
}
