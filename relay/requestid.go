package relay

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"sync"
)

// requestIDs draws the request ids of the items a member submits. Every member
// sees every item's id, and an id it could predict would let it poison another
// origin's future items: a forged item (or decision) sent ahead under the id is
// taken first, and the real one dropped as a duplicate. So ids are not a
// counter but the output of a ChaCha8 stream seeded from the OS's random
// source: unpredictable without the seed, and a fresh seed per start means a
// restarted origin does not repeat the ids of its previous life.
type requestIDs struct {
	mu  sync.Mutex
	src *rand.ChaCha8
}

func newRequestIDs() (*requestIDs, error) {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("seed request ids: %w", err)
	}
	return &requestIDs{src: rand.NewChaCha8(seed)}, nil
}

// next returns an id; never 0, which Submit reads as "pick one". A repeat is
// as likely as two random 64-bit numbers colliding, and Submit refuses an id
// already in flight anyway.
func (g *requestIDs) next() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		if id := g.src.Uint64(); id != 0 {
			return id
		}
	}
}
