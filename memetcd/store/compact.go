package store

// Compact drops history below rev: reads at older revisions and watches from
// them get ErrCompacted afterwards. Each key keeps its newest record at or
// below rev (unless that record is a deletion), so reads at rev still work.
func (s *Store) Compact(rev int64) (Waiter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writableLocked(); err != nil {
		return nil, err
	}
	if rev <= s.compactRev {
		return nil, ErrCompacted
	}
	if rev > s.rev {
		return nil, ErrFutureRev
	}
	s.compactLocked(rev)
	return s.journalLocked(&Change{Revision: s.rev, Ops: []Op{{Type: OpCompact, Revision: rev}}}), nil
}

func (s *Store) compactLocked(rev int64) {
	s.compactRev = rev
	var gone []*entry
	s.keys.all(func(e *entry) bool {
		h := e.history
		// keep = index of the newest record with mod <= rev.
		keep := -1
		for i := range h {
			if h[i].mod > rev {
				break
			}
			keep = i
		}
		if keep < 0 {
			return true
		}
		if h[keep].version == 0 {
			keep++ // a deletion at or below rev: nothing before it is readable
		}
		if keep == len(h) {
			gone = append(gone, e)
			return true
		}
		if keep > 0 {
			// A fresh slice, so the dropped records' values can be freed.
			e.history = append(make([]record, 0, len(h)-keep), h[keep:]...)
		}
		return true
	})
	for _, e := range gone {
		s.keys.remove(e)
	}
	i := 0
	for i < len(s.events) && s.events[i].KV.ModRevision < rev {
		i++
	}
	if i > 0 {
		s.events = append(make([]Event, 0, len(s.events)-i), s.events[i:]...)
	}
	if m := s.cfg.Metrics; m != nil {
		m.compactRev.Set(float64(rev))
	}
}
