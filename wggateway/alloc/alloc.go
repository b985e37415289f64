// Package alloc hands out tunnel addresses from the gateway's pool: one IPv4
// address (and, when an IPv6 pool is configured, the IPv6 address with the same
// host offset) per WireGuard public key. Asking again with the same key returns
// the same addresses, and every change is written to disk atomically before it is
// acknowledged, so a gateway restart keeps every peer where it was.
package alloc

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// ErrExhausted means every address in the pool belongs to a peer. The HTTP layer
// answers 503: the condition clears when peers are released or expire.
var ErrExhausted = errors.New("address pool exhausted")

// ErrNotFound means the key holds no allocation.
var ErrNotFound = errors.New("no allocation for key")

// ErrQuota means the requesting source already holds its share of the pool.
// The HTTP layer answers 429: the source gets more when its peers go.
var ErrQuota = errors.New("per-source allocation quota reached")

// Config describes the pool.
type Config struct {
	// PoolV4 is the IPv4 tunnel prefix, e.g. 10.99.0.0/24. Its first host address
	// is the gateway's own tunnel address; the network and broadcast addresses are
	// never handed out.
	PoolV4 netip.Prefix
	// PoolV6 is optional. When valid, each peer also gets the address at the same
	// host offset in it, so the two families stay easy to correlate.
	PoolV6 netip.Prefix
	// StatePath is the JSON file the allocations live in. Empty keeps them in
	// memory only (tests).
	StatePath string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxPerSource caps the allocations one source address may hold, so one
	// client with the shared secret cannot empty the pool for everyone. 0
	// means no cap. Allocations made without a source are not counted.
	MaxPerSource int
}

// Owner is who asks for an allocation: where the request came from (for the
// per-source quota) and the hash of the token that later proves ownership.
type Owner struct {
	Source    netip.Addr
	TokenHash string
}

// Allocation is what one public key holds.
type Allocation struct {
	PublicKey string     `json:"publicKey"`
	IPv4      netip.Addr `json:"ipv4"`
	IPv6      netip.Addr `json:"ipv6,omitzero"`
	Created   time.Time  `json:"created"`
	// LastSeen is the last API request or WireGuard handshake from the peer;
	// idle expiry measures from it.
	LastSeen time.Time `json:"lastSeen"`
	// Source is the address that registered the key (counted by the
	// per-source quota).
	Source netip.Addr `json:"source,omitzero"`
	// TokenHash is the hex SHA-256 of the release token handed to whoever
	// created the allocation; only that token releases it. Empty for
	// allocations made before tokens existed.
	TokenHash string `json:"tokenHash,omitempty"`
}

// Pool is safe for concurrent use.
type Pool struct {
	cfg     Config
	now     func() time.Time
	first   netip.Addr // first address handed to peers
	size    int        // number of addresses peers can get
	gateway netip.Addr // the gateway's own v4 tunnel address
	metrics *Metrics

	// mu guards everything below and is held across the state file write, so
	// the file always matches some prefix of the acknowledged operations.
	mu     sync.Mutex
	byKey  map[string]*Allocation
	byAddr map[netip.Addr]string // IPv4 address -> public key
	bySrc  map[netip.Addr]int    // source address -> allocations it holds
	next   int                   // offset to try first, so reuse is round-robin
	dirty  bool                  // LastSeen changed since the last write
}

// New opens the pool, loading StatePath when it exists. Allocations that no
// longer fit the configured pool (the operator changed the prefix) are an error
// rather than silently dropped: dropping them would cut peers off.
func New(cfg Config, m *Metrics) (*Pool, error) {
	if !cfg.PoolV4.IsValid() || !cfg.PoolV4.Addr().Is4() {
		return nil, fmt.Errorf("ipv4 pool %q: not an IPv4 prefix", cfg.PoolV4)
	}
	cfg.PoolV4 = cfg.PoolV4.Masked()
	hostBits := 32 - cfg.PoolV4.Bits()
	if hostBits < 2 {
		return nil, fmt.Errorf("ipv4 pool %s: too small, need at least a /30", cfg.PoolV4)
	}
	if hostBits > 24 {
		return nil, fmt.Errorf("ipv4 pool %s: larger than a /8 is not supported", cfg.PoolV4)
	}
	if cfg.PoolV6.IsValid() {
		if !cfg.PoolV6.Addr().Is6() || cfg.PoolV6.Addr().Is4In6() {
			return nil, fmt.Errorf("ipv6 pool %q: not an IPv6 prefix", cfg.PoolV6)
		}
		cfg.PoolV6 = cfg.PoolV6.Masked()
		if 128-cfg.PoolV6.Bits() < hostBits {
			return nil, fmt.Errorf("ipv6 pool %s is smaller than ipv4 pool %s", cfg.PoolV6, cfg.PoolV4)
		}
	}
	p := &Pool{
		cfg:     cfg,
		now:     cfg.Now,
		gateway: cfg.PoolV4.Addr().Next(),
		// network address, gateway address and broadcast address are reserved.
		size:    1<<hostBits - 3,
		byKey:   map[string]*Allocation{},
		byAddr:  map[netip.Addr]string{},
		bySrc:   map[netip.Addr]int{},
		metrics: m,
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.first = p.gateway.Next()
	if cfg.StatePath != "" {
		allocs, err := readState(cfg.StatePath)
		if err != nil {
			return nil, err
		}
		for _, a := range allocs {
			if err := p.adopt(a); err != nil {
				return nil, fmt.Errorf("state %s: %w", cfg.StatePath, err)
			}
		}
	}
	p.metrics.setSize(p.size)
	p.metrics.setInUse(len(p.byKey))
	return p, nil
}

func (p *Pool) adopt(a Allocation) error {
	off, ok := p.offsetOf(a.IPv4)
	if !ok {
		return fmt.Errorf("peer %s: address %s outside pool %s", a.PublicKey, a.IPv4, p.cfg.PoolV4)
	}
	if _, dup := p.byKey[a.PublicKey]; dup {
		return fmt.Errorf("peer %s listed twice", a.PublicKey)
	}
	if other, dup := p.byAddr[a.IPv4]; dup {
		return fmt.Errorf("address %s held by %s and %s", a.IPv4, other, a.PublicKey)
	}
	// The v6 address is derived, so a changed or newly added v6 pool is applied
	// on load instead of refusing to start.
	a.IPv6 = p.v6At(off)
	p.addLocked(&a)
	return nil
}

// addLocked and dropLocked keep the three indexes in step. Caller holds mu.
func (p *Pool) addLocked(a *Allocation) {
	p.byKey[a.PublicKey] = a
	p.byAddr[a.IPv4] = a.PublicKey
	if a.Source.IsValid() {
		p.bySrc[a.Source]++
	}
}

func (p *Pool) dropLocked(a *Allocation) {
	delete(p.byKey, a.PublicKey)
	delete(p.byAddr, a.IPv4)
	if a.Source.IsValid() {
		if p.bySrc[a.Source] <= 1 {
			delete(p.bySrc, a.Source)
		} else {
			p.bySrc[a.Source]--
		}
	}
}

// Gateway returns the gateway's own tunnel addresses (the first host of each pool).
func (p *Pool) Gateway() (v4, v6 netip.Addr) {
	if p.cfg.PoolV6.IsValid() {
		v6 = p.cfg.PoolV6.Addr().Next()
	}
	return p.gateway, v6
}

// Prefixes returns the configured pools (PoolV6 is invalid when not configured).
func (p *Pool) Prefixes() (v4, v6 netip.Prefix) { return p.cfg.PoolV4, p.cfg.PoolV6 }

// Size is the number of addresses peers can hold.
func (p *Pool) Size() int { return p.size }

// offsetOf returns a's offset from p.first, and whether a can be handed out.
func (p *Pool) offsetOf(a netip.Addr) (int, bool) {
	if !a.Is4() || !p.cfg.PoolV4.Contains(a) {
		return 0, false
	}
	b, f := a.As4(), p.first.As4()
	off := int(be32(b)) - int(be32(f))
	return off, off >= 0 && off < p.size
}

func be32(b [4]byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func (p *Pool) v4At(off int) netip.Addr {
	f := p.first.As4()
	v := be32(f) + uint32(off)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// v6At is the IPv6 address at the same host offset as v4At(off) (offset 0 is
// prefix+2, like IPv4: prefix+1 is the gateway).
func (p *Pool) v6At(off int) netip.Addr {
	if !p.cfg.PoolV6.IsValid() {
		return netip.Addr{}
	}
	b := p.cfg.PoolV6.Addr().As16()
	n := new(big.Int).SetBytes(b[:])
	n.Add(n, big.NewInt(int64(off)+2))
	var out [16]byte
	n.FillBytes(out[:])
	return netip.AddrFrom16(out)
}

// Allocate returns the addresses of publicKey, allocating them on first use.
// created reports whether this call made the allocation. The allocation is on
// disk before Allocate returns.
func (p *Pool) Allocate(publicKey string) (a Allocation, created bool, err error) {
	return p.AllocateFor(publicKey, Owner{})
}

// AllocateFor is Allocate on behalf of owner: a new allocation counts against
// owner.Source's quota and records owner.TokenHash. A key that already holds
// an allocation gets it back unchanged (its original owner stays).
func (p *Pool) AllocateFor(publicKey string, owner Owner) (a Allocation, created bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if cur, ok := p.byKey[publicKey]; ok {
		cur.LastSeen = now
		p.dirty = true
		return *cur, false, nil
	}
	if len(p.byKey) >= p.size {
		p.metrics.incExhausted()
		return Allocation{}, false, fmt.Errorf("%w: all %d addresses of %s in use", ErrExhausted, p.size, p.cfg.PoolV4)
	}
	if src := owner.Source.Unmap(); src.IsValid() && p.cfg.MaxPerSource > 0 && p.bySrc[src] >= p.cfg.MaxPerSource {
		p.metrics.incQuota()
		return Allocation{}, false, fmt.Errorf("%w: %s holds %d allocations", ErrQuota, src, p.bySrc[src])
	}
	off := p.next
	for {
		if _, used := p.byAddr[p.v4At(off)]; !used {
			break
		}
		off = (off + 1) % p.size
	}
	na := &Allocation{PublicKey: publicKey, IPv4: p.v4At(off), IPv6: p.v6At(off), Created: now, LastSeen: now,
		Source: owner.Source.Unmap(), TokenHash: owner.TokenHash}
	p.addLocked(na)
	if err := p.persistLocked(); err != nil {
		p.dropLocked(na)
		return Allocation{}, false, err
	}
	p.next = (off + 1) % p.size
	p.metrics.setInUse(len(p.byKey))
	return *na, true, nil
}

// Release frees the addresses of publicKey.
func (p *Pool) Release(publicKey string) (Allocation, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.byKey[publicKey]
	if !ok {
		return Allocation{}, ErrNotFound
	}
	p.dropLocked(a)
	if err := p.persistLocked(); err != nil {
		p.addLocked(a)
		return Allocation{}, err
	}
	p.metrics.setInUse(len(p.byKey))
	return *a, nil
}

// Touch records activity of publicKey at t (e.g. its latest handshake). It only
// moves LastSeen forward and is written to disk with the next change or Expire.
func (p *Pool) Touch(publicKey string, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.byKey[publicKey]; ok && t.After(a.LastSeen) {
		a.LastSeen = t
		p.dirty = true
	}
}

// Expire releases every allocation not seen for idle and returns them.
func (p *Pool) Expire(idle time.Duration) ([]Allocation, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cutoff := p.now().Add(-idle)
	var gone []Allocation
	for _, a := range p.byKey {
		if a.LastSeen.Before(cutoff) {
			gone = append(gone, *a)
			p.dropLocked(a)
		}
	}
	if len(gone) == 0 && !p.dirty {
		return nil, nil
	}
	if err := p.persistLocked(); err != nil {
		for _, a := range gone {
			p.addLocked(&a)
		}
		return nil, err
	}
	p.metrics.setInUse(len(p.byKey))
	sortByAddr(gone)
	return gone, nil
}

// Get returns the allocation of publicKey.
func (p *Pool) Get(publicKey string) (Allocation, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.byKey[publicKey]
	if !ok {
		return Allocation{}, false
	}
	return *a, true
}

// List returns every allocation ordered by IPv4 address.
func (p *Pool) List() []Allocation {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.listLocked()
}

func (p *Pool) listLocked() []Allocation {
	out := make([]Allocation, 0, len(p.byKey))
	for _, a := range p.byKey {
		out = append(out, *a)
	}
	sortByAddr(out)
	return out
}

func sortByAddr(as []Allocation) {
	sort.Slice(as, func(i, j int) bool { return as[i].IPv4.Less(as[j].IPv4) })
}

func (p *Pool) persistLocked() error {
	if p.cfg.StatePath == "" {
		p.dirty = false
		return nil
	}
	if err := writeState(p.cfg.StatePath, p.listLocked()); err != nil {
		return err
	}
	p.dirty = false
	return nil
}
