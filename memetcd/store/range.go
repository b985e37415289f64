package store

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/k8s1m/k8s1m/memetcd/keys"
)

// Range reads keys at a revision; see RangeRequest.
func (s *Store) Range(req *RangeRequest) (*RangeResult, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.readableLocked(); err != nil {
		return nil, err
	}
	return s.rangeLocked(req, s.rev)
}

// rangeLocked reads at req.Rev, or at latest when req.Rev is 0. Inside a write
// transaction latest is the transaction's own revision, so a Range after a Put
// in the same Txn sees the Put, as in etcd.
func (s *Store) rangeLocked(req *RangeRequest, latest int64) (*RangeResult, error) {
	readRev, err := s.readRevLocked(req, latest)
	if err != nil {
		return nil, err
	}
	return s.rangeAtLocked(req, readRev), nil
}

// readRevLocked is the revision req reads at: latest when req.Rev is 0 (or
// negative, as etcd reads it), else req.Rev, which must be neither in the
// future nor compacted away.
func (s *Store) readRevLocked(req *RangeRequest, latest int64) (int64, error) {
	if req.Rev <= 0 {
		return latest, nil
	}
	if req.Rev > s.rev {
		return 0, ErrFutureRev
	}
	if req.Rev < s.compactRev {
		return 0, ErrCompacted
	}
	return req.Rev, nil
}

// rangeAtLocked reads at readRev, which readRevLocked accepted.
func (s *Store) rangeAtLocked(req *RangeRequest, readRev int64) *RangeResult {
	res := &RangeResult{Rev: s.rev}
	if req.End == nil {
		if e := s.keys.get(req.Key); e != nil {
			if r := e.at(readRev); r != nil && req.passes(r) {
				res.Count = 1
				if !req.CountOnly {
					res.KVs = []KeyValue{req.strip(e.kv(r))}
				}
			}
		}
		return res
	}
	rng := keys.Parse(req.Key, req.End).Range

	order := req.SortOrder
	if req.SortTarget != SortByKey && order == SortNone {
		order = SortAscend // etcd sorts ascending when only a target is given
	}
	natural := req.SortTarget == SortByKey && order != SortDescend
	limit := req.Limit
	if !natural {
		limit = 0 // sort everything first, then cut
	}
	s.keys.ascend(rng.Start, rng.End, func(e *entry) bool {
		r := e.at(readRev)
		if r == nil || !req.passes(r) {
			return true
		}
		res.Count++
		if !req.CountOnly && (limit <= 0 || int64(len(res.KVs)) < limit) {
			res.KVs = append(res.KVs, req.strip(e.kv(r)))
		}
		return !(req.SkipCount && limit > 0 && res.Count > limit)
	})
	if !natural && !req.CountOnly {
		sortKVs(res.KVs, req.SortTarget, order)
		if req.Limit > 0 && int64(len(res.KVs)) > req.Limit {
			res.KVs = res.KVs[:req.Limit]
		}
	}
	res.More = !req.CountOnly && res.Count > int64(len(res.KVs))
	return res
}

func (req *RangeRequest) passes(r *record) bool {
	return (req.MinModRev == 0 || r.mod >= req.MinModRev) &&
		(req.MaxModRev == 0 || r.mod <= req.MaxModRev) &&
		(req.MinCreateRev == 0 || r.create >= req.MinCreateRev) &&
		(req.MaxCreateRev == 0 || r.create <= req.MaxCreateRev)
}

func (req *RangeRequest) strip(kv KeyValue) KeyValue {
	if req.KeysOnly {
		kv.Value = nil
	}
	return kv
}

func sortKVs(kvs []KeyValue, target SortTarget, order SortOrder) {
	var c func(a, b KeyValue) int
	switch target {
	case SortByVersion:
		c = func(a, b KeyValue) int { return cmp.Compare(a.Version, b.Version) }
	case SortByCreate:
		c = func(a, b KeyValue) int { return cmp.Compare(a.CreateRevision, b.CreateRevision) }
	case SortByMod:
		c = func(a, b KeyValue) int { return cmp.Compare(a.ModRevision, b.ModRevision) }
	case SortByValue:
		c = func(a, b KeyValue) int { return bytes.Compare(a.Value, b.Value) }
	default:
		c = func(a, b KeyValue) int { return bytes.Compare(a.Key, b.Key) }
	}
	if order == SortDescend {
		slices.SortStableFunc(kvs, func(a, b KeyValue) int { return c(b, a) })
		return
	}
	slices.SortStableFunc(kvs, c)
}
