package store

import (
	"bytes"
	"slices"

	"github.com/google/btree"
	"github.com/k8s1m/k8s1m/memetcd/keys"
)

// record is one revision of one key. A record with version 0 is a tombstone:
// the key was deleted at mod. Records hold no key: the entry holds it once.
type record struct {
	value   []byte
	create  int64
	mod     int64
	version int64
	lease   int64
}

// entry is one key with its history since the compaction point, oldest first.
// The last record is the key's current state (a tombstone if deleted).
type entry struct {
	key     []byte
	history []record
}

func (e *entry) latest() *record { return &e.history[len(e.history)-1] }

// at returns the record visible at rev, or nil if the key did not exist then.
func (e *entry) at(rev int64) *record {
	i, _ := slices.BinarySearchFunc(e.history, rev, func(r record, rev int64) int {
		switch {
		case r.mod <= rev:
			return -1
		default:
			return 1
		}
	})
	// i is the first record with mod > rev; the one before it is visible.
	if i == 0 {
		return nil
	}
	r := &e.history[i-1]
	if r.version == 0 {
		return nil
	}
	return r
}

func (e *entry) kv(r *record) KeyValue {
	return KeyValue{Key: e.key, Value: r.value, CreateRevision: r.create, ModRevision: r.mod, Version: r.version, Lease: r.lease}
}

func entryLess(a, b *entry) bool { return bytes.Compare(a.key, b.key) < 0 }

// shard is the ordered keys of one top-level prefix.
type shard struct {
	prefix []byte // "" for keys outside any prefix
	tree   *btree.BTreeG[*entry]
}

// btreeDegree trades node size against depth; 32 keeps nodes near a few cache
// lines of pointers while a million keys stay four levels deep.
const btreeDegree = 32

func newShard(prefix []byte) *shard {
	return &shard{prefix: prefix, tree: btree.NewG[*entry](btreeDegree, entryLess)}
}

// keyspace holds every key, split per Kubernetes resource prefix so that a
// scan of one kind never walks another's keys. No resource prefix is a prefix
// of another (package keys): each shard's keys form one contiguous interval
// of the global key order, and keys outside every shard ("misc") lie between
// those intervals. A global ordered scan is therefore the shards in prefix order
// with misc keys merged into the gaps.
type keyspace struct {
	shards map[string]*shard
	order  []*shard // shards sorted by prefix
	misc   *shard
}

func newKeyspace() keyspace {
	return keyspace{shards: map[string]*shard{}, misc: newShard(nil)}
}

// shardPrefix returns the prefix that owns key, or nil for misc keys: its
// Kubernetes resource prefix (package keys).
func shardPrefix(key []byte) []byte { return keys.ResourcePrefix(key, keys.ResourceRoot) }

func (ks *keyspace) shardFor(key []byte, create bool) *shard {
	p := shardPrefix(key)
	if p == nil {
		return ks.misc
	}
	if sh, ok := ks.shards[string(p)]; ok {
		return sh
	}
	if !create {
		return nil
	}
	sh := newShard(bytes.Clone(p))
	ks.shards[string(p)] = sh
	i, _ := slices.BinarySearchFunc(ks.order, sh.prefix, func(s *shard, p []byte) int { return bytes.Compare(s.prefix, p) })
	ks.order = slices.Insert(ks.order, i, sh)
	return sh
}

func (ks *keyspace) get(key []byte) *entry {
	sh := ks.shardFor(key, false)
	if sh == nil {
		return nil
	}
	e, _ := sh.tree.Get(&entry{key: key})
	return e
}

// insert adds a new entry; the caller checked it is absent.
func (ks *keyspace) insert(e *entry) {
	ks.shardFor(e.key, true).tree.ReplaceOrInsert(e)
}

// insertNew adds e unless its key is present (then it puts the old entry
// back and returns false): one descent of the tree instead of get + insert.
func (ks *keyspace) insertNew(e *entry) bool {
	t := ks.shardFor(e.key, true).tree
	if old, replaced := t.ReplaceOrInsert(e); replaced {
		t.ReplaceOrInsert(old)
		return false
	}
	return true
}

func (ks *keyspace) remove(e *entry) {
	if sh := ks.shardFor(e.key, false); sh != nil {
		sh.tree.Delete(e)
		// Empty shards stay: kinds come back, and the map is tiny.
	}
}

// ascend calls fn for every entry with start <= key < end in key order (end nil:
// no upper bound) until fn returns false.
func (ks *keyspace) ascend(start, end []byte, fn func(*entry) bool) {
	if p := shardPrefix(start); p != nil {
		pe := keys.PrefixEnd(p)
		if end != nil && bytes.Compare(end, pe) <= 0 {
			if sh := ks.shards[string(p)]; sh != nil {
				ascendTree(sh.tree, start, end, fn)
			}
			return
		}
	}
	cur := start
	for _, sh := range ks.order {
		pe := keys.PrefixEnd(sh.prefix)
		if pe != nil && bytes.Compare(pe, start) <= 0 {
			continue
		}
		if end != nil && bytes.Compare(sh.prefix, end) >= 0 {
			break
		}
		// Misc keys below this shard's interval come first.
		if bytes.Compare(cur, sh.prefix) < 0 {
			if !ascendTree(ks.misc.tree, cur, keys.MinEnd(sh.prefix, end), fn) {
				return
			}
		}
		lo := sh.prefix
		if bytes.Compare(start, lo) > 0 {
			lo = start
		}
		if !ascendTree(sh.tree, lo, keys.MinEnd(pe, end), fn) {
			return
		}
		if pe == nil {
			return
		}
		cur = pe
	}
	ascendTree(ks.misc.tree, cur, end, fn)
}

func ascendTree(t *btree.BTreeG[*entry], start, end []byte, fn func(*entry) bool) bool {
	ok := true
	visit := func(e *entry) bool {
		ok = fn(e)
		return ok
	}
	if end == nil {
		t.AscendGreaterOrEqual(&entry{key: start}, visit)
	} else if bytes.Compare(start, end) < 0 {
		t.AscendRange(&entry{key: start}, &entry{key: end}, visit)
	}
	return ok
}

// all calls fn for every entry of every shard, in no particular order.
func (ks *keyspace) all(fn func(*entry) bool) {
	for _, sh := range append([]*shard{ks.misc}, ks.order...) {
		cont := true
		sh.tree.Ascend(func(e *entry) bool {
			cont = fn(e)
			return cont
		})
		if !cont {
			return
		}
	}
}
