package tree

import "hash/fnv"

// Pick decides a gather: the feasible bid with the highest score wins. Ties
// are broken by a hash of the pod key and member name, so equally good
// members win equally often across pods while every gatherer that sees the
// same bids picks the same winner.
func Pick(key string, bids []Bid, expected int) Verdict {
	v := Verdict{Bids: len(bids), Expected: expected}
	var best *Bid
	var bestTie uint64
	for i := range bids {
		b := &bids[i]
		if !b.Feasible() {
			continue
		}
		tie := tieBreak(key, b.Member)
		if best == nil || b.Score > best.Score || (b.Score == best.Score && tie < bestTie) {
			best, bestTie = b, tie
		}
	}
	if best != nil {
		v.Winner, v.Node, v.Score = best.Member, best.Node, best.Score
	}
	return v
}

func tieBreak(key, member string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(member))
	return h.Sum64()
}
