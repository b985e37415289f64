package store

import (
	"context"
	"math/rand/v2"
	"sort"
	"time"
)

// lease is a granted lease. keys holds the keys attached to it so expiry and
// revoke delete exactly them.
type lease struct {
	id     int64
	ttl    int64
	expiry time.Time
	keys   map[string]struct{}
}

func (s *Store) attachLocked(id int64, key []byte) {
	if l, ok := s.leases[id]; ok {
		l.keys[string(key)] = struct{}{}
	}
}

func (s *Store) detachLocked(id int64, key []byte) {
	if id == 0 {
		return
	}
	if l, ok := s.leases[id]; ok {
		delete(l.keys, string(key))
	}
}

// Grant creates a lease; id 0 picks a free random positive ID as etcd does.
// A TTL below Config.MinLeaseTTL is raised to it, and the result says so.
func (s *Store) Grant(id, ttl int64) (Lease, Waiter, error) {
	if ttl > MaxLeaseTTL {
		return Lease{}, nil, ErrLeaseTTL
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writableLocked(); err != nil {
		return Lease{}, nil, err
	}
	if id == 0 {
		for id == 0 || s.leases[id] != nil {
			id = rand.Int64() // positive: etcd's clients treat negative IDs as invalid
		}
	} else if _, ok := s.leases[id]; ok {
		return Lease{}, nil, ErrLeaseExists
	}
	ttl = max(ttl, s.cfg.MinLeaseTTL)
	s.grantLocked(id, ttl)
	if m := s.cfg.Metrics; m != nil {
		m.leaseGranted.Inc()
	}
	w := s.journalLocked(&Change{Revision: s.rev, Ops: []Op{{Type: OpLeaseGrant, LeaseID: id, TTL: ttl}}})
	return Lease{ID: id, TTL: ttl}, w, nil
}

func (s *Store) grantLocked(id, ttl int64) {
	s.leases[id] = &lease{id: id, ttl: ttl, expiry: s.cfg.Now().Add(time.Duration(ttl) * time.Second), keys: map[string]struct{}{}}
}

// Revoke deletes a lease and all its keys as one revision.
func (s *Store) Revoke(id int64) (int64, Waiter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writableLocked(); err != nil {
		return 0, nil, err
	}
	w, err := s.revokeLocked(id)
	return s.rev, w, err
}

func (s *Store) revokeLocked(id int64) (Waiter, error) {
	l, ok := s.leases[id]
	if !ok {
		return nil, ErrLeaseNotFound
	}
	t := s.beginLocked()
	t.change.Ops = append(t.change.Ops, Op{Type: OpLeaseRevoke, LeaseID: id})
	keys := make([]string, 0, len(l.keys))
	for k := range l.keys {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic event order within the revision
	for _, k := range keys {
		if e := s.keys.get([]byte(k)); e != nil {
			t.deleteEntry(e)
		}
	}
	delete(s.leases, id)
	if m := s.cfg.Metrics; m != nil {
		m.leaseRevoked.Inc()
	}
	return t.commit(), nil
}

// KeepAlive renews a lease for its full TTL and returns the TTL. Renewals are
// not journaled: after a restart every lease gets a fresh TTL, as in etcd.
func (s *Store) KeepAlive(id int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.readableLocked(); err != nil {
		return 0, err
	}
	l, ok := s.leases[id]
	if !ok {
		return 0, ErrLeaseNotFound
	}
	l.expiry = s.cfg.Now().Add(time.Duration(l.ttl) * time.Second)
	return l.ttl, nil
}

// TimeToLive reports a lease's TTLs and, if keys, its attached keys.
func (s *Store) TimeToLive(id int64, keys bool) (LeaseInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.readableLocked(); err != nil {
		return LeaseInfo{}, err
	}
	l, ok := s.leases[id]
	if !ok {
		return LeaseInfo{}, ErrLeaseNotFound
	}
	left := l.expiry.Sub(s.cfg.Now())
	remaining := int64((left + time.Second - 1) / time.Second)
	if remaining < 0 {
		remaining = 0
	}
	info := LeaseInfo{ID: id, GrantedTTL: l.ttl, RemainingTTL: remaining, Expiry: l.expiry}
	if keys {
		for k := range l.keys {
			info.Keys = append(info.Keys, []byte(k))
		}
		sort.Slice(info.Keys, func(i, j int) bool { return string(info.Keys[i]) < string(info.Keys[j]) })
	}
	return info, nil
}

// Leases lists every lease, by ID.
func (s *Store) Leases() []Lease {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.leasesLocked()
}

func (s *Store) leasesLocked() []Lease {
	out := make([]Lease, 0, len(s.leases))
	for _, l := range s.leases {
		out = append(out, Lease{ID: l.id, TTL: l.ttl})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// expireLoop revokes expired leases, each as its own revision like etcd's
// lessor, until Close.
func (s *Store) expireLoop() {
	defer close(s.done)
	tick := time.NewTicker(s.cfg.LeaseCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			s.ExpireLeases()
		}
	}
}

// ExpireLeases revokes every lease whose TTL has run out and returns how many.
// The expiry loop calls it; tests with a fake clock call it directly.
func (s *Store) ExpireLeases() int {
	s.mu.RLock()
	now := s.cfg.Now()
	var expired []int64
	for id, l := range s.leases {
		if !now.Before(l.expiry) {
			expired = append(expired, id)
		}
	}
	s.mu.RUnlock()
	sort.Slice(expired, func(i, j int) bool { return expired[i] < expired[j] })
	n := 0
	for _, id := range expired {
		s.mu.Lock()
		if s.writableLocked() != nil {
			s.mu.Unlock()
			return n
		}
		// Re-check under the write lock: a keep-alive may have won the race.
		l, ok := s.leases[id]
		if !ok || now.Before(l.expiry) || s.cfg.Now().Before(l.expiry) {
			s.mu.Unlock()
			continue
		}
		w, err := s.revokeLocked(id)
		rev := s.rev
		s.mu.Unlock()
		if err != nil {
			continue
		}
		n++
		s.cfg.Log.Debug().Int64("lease", id).Int64("rev", rev).Msg("lease expired")
		if m := s.cfg.Metrics; m != nil {
			m.leaseExpired.Inc()
		}
		// No client waits for an expiry, but a journal failure must still
		// make the store read-only.
		go func() { _ = w.Wait(context.Background()) }()
	}
	return n
}
