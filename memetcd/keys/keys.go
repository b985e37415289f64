// Package keys is the key layout memetcd serves, written once: etcd's range
// rules (a key and a range_end name a single key, an interval, or everything
// from a key on) and Kubernetes' resource prefixes (/registry/<resource>/,
// /registry/<group>/<resource>/). The store's shards and the WAL's files
// split keys by the same prefixes, and every range check uses one convention
// for "no upper bound": a nil End.
package keys

import "bytes"

// Range is the keys from Start up to End, End excluded; a nil End means no
// upper bound. A Range never names a single key: see Request.
type Range struct {
	Start, End []byte
}

// Contains reports whether key lies in r.
func (r Range) Contains(key []byte) bool {
	return bytes.Compare(key, r.Start) >= 0 && (r.End == nil || bytes.Compare(key, r.End) < 0)
}

// Empty reports whether no key lies in r.
func (r Range) Empty() bool {
	return r.End != nil && bytes.Compare(r.Start, r.End) >= 0
}

// Request is what an etcd request's key and range_end select.
type Request struct {
	// Single is set when range_end was empty: only Key.
	Single bool
	Key    []byte
	// Range is the interval otherwise.
	Range Range
}

// Parse applies etcd's rules to (key, range_end): an empty range_end selects
// the single key; range_end "\x00" every key >= key (and key "\x00" with it
// every key); anything else the keys in [key, range_end).
func Parse(key, rangeEnd []byte) Request {
	if len(rangeEnd) == 0 {
		return Request{Single: true, Key: key}
	}
	r := Range{Start: key, End: rangeEnd}
	if IsFromKey(rangeEnd) {
		r.End = nil
	}
	if len(key) == 1 && key[0] == 0 {
		r.Start = []byte{}
	}
	return Request{Key: key, Range: r}
}

// Contains reports whether key is selected.
func (q Request) Contains(key []byte) bool {
	if q.Single {
		return bytes.Equal(key, q.Key)
	}
	return q.Range.Contains(key)
}

// IsFromKey reports whether rangeEnd is etcd's "every key >= key" marker.
func IsFromKey(rangeEnd []byte) bool { return len(rangeEnd) == 1 && rangeEnd[0] == 0 }

// PrefixEnd is the smallest key greater than every key starting with p, or
// nil (no upper bound) when there is none: p empty or all 0xff.
func PrefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// MinEnd is the lower of two upper bounds, nil being no bound.
func MinEnd(a, b []byte) []byte {
	if a == nil {
		return b
	}
	if b == nil || bytes.Compare(a, b) < 0 {
		return a
	}
	return b
}

// ResourceRoot is where kube-apiserver keeps its objects (its --etcd-prefix
// default plus the slash).
const ResourceRoot = "/registry/"

// ResourcePrefix is the one-Kubernetes-resource prefix of key under root, or
// nil: root + "<resource>/" for core and legacy resources
// (/registry/pods/ns/name -> /registry/pods/), root + "<group>/<resource>/"
// when the first segment is an API group, that is contains a dot
// (/registry/example.com/widgets/ns/name -> /registry/example.com/widgets/).
// Keys with no such segment, keys outside root and an empty root have none.
// The result is a sub-slice of key: no allocation.
//
// No resource prefix is a prefix of another, so each one's keys form one
// interval of the key order, [prefix, PrefixEnd(prefix)).
func ResourcePrefix(key []byte, root string) []byte {
	if root == "" || len(key) <= len(root) || string(key[:len(root)]) != root {
		return nil
	}
	rest := key[len(root):]
	i := bytes.IndexByte(rest, '/')
	if i <= 0 {
		return nil
	}
	if bytes.IndexByte(rest[:i], '.') < 0 {
		return key[:len(root)+i+1]
	}
	j := bytes.IndexByte(rest[i+1:], '/')
	if j <= 0 {
		return nil
	}
	return key[:len(root)+i+1+j+1]
}
