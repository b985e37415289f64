// Package relaytree is the tree.Tree of a distscheduler member backed by the
// relay module: membership by gossip, items scattered down the tree from the
// root, scores gathered at each item's gatherer over gRPC.
//
// relay ties every gather to an item the root submitted, so a gather here is
// two-sided. The root (the Lease holder, see package intake) submits one item
// per pending pod, keyed by tree pod key (namespace/name/uid). Every
// scheduling member's Gather waits for the pod's item to arrive through the
// relay Handler, reports its bid for it and waits for the verdict. The relay
// tells a loser only "lose", so a lost gather is tree.Elsewhere: the member
// drops the pod; the root submits again any pod nobody won.
package relaytree

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/k8s1m/k8s1m/relay"
	"github.com/rs/zerolog"
)

// Config configures one member.
type Config struct {
	// Relay is the member's relay configuration (start from
	// relay.DefaultConfig or relay.DefaultLocalConfig and set Name, Role,
	// addresses, keys). Handler and Decisions are set by Start.
	Relay relay.Config
	// Seeds are "host:port" gossip addresses of members to join; a DNS name
	// joins every address behind it. Empty: the member waits to be joined.
	Seeds []string
	// JoinRetry is the pause between join attempts while no seed answers.
	JoinRetry time.Duration
	// ItemWait bounds how long Gather waits for its pod's item before giving
	// the pod up (it comes back when its item arrives); 0 means a quarter
	// of Relay.DefaultDeadline. Short, so that the order in which items
	// arrive, not the member's own queue order, drives what it schedules.
	ItemWait time.Duration
	Log      zerolog.Logger
}

// Member is one member's handle on the relay tree; it implements tree.Tree.
type Member struct {
	r        *relay.Relay
	name     string
	itemWait time.Duration
	retain   time.Duration
	log      zerolog.Logger
	joined   atomic.Bool

	// mu guards items: the latest item per pod key, and the Gathers
	// waiting for one.
	mu    sync.Mutex
	items map[string]*entry

	onItem     atomic.Pointer[func(key string)]
	onDecision atomic.Pointer[func(relay.Decision)]
	arrivals   chan string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// entry is what a member knows about one pod key.
type entry struct {
	item     relay.Item
	have     bool
	reported bool // item's score was sent: a Gather must wait for a newer item
	// arrived is closed (and replaced) when a new item for the key arrives.
	arrived chan struct{}
	waiters int
}

var _ tree.Tree = (*Member)(nil)

// Start creates the relay member (its gRPC server and gossip listener) and
// joins the seeds in the background, retrying until one answers.
func Start(ctx context.Context, cfg Config) (*Member, error) {
	if cfg.JoinRetry <= 0 {
		cfg.JoinRetry = 2 * time.Second
	}
	if cfg.ItemWait <= 0 {
		cfg.ItemWait = cfg.Relay.DefaultDeadline / 4
	}
	mctx, cancel := context.WithCancel(context.Background())
	m := &Member{
		name:     cfg.Relay.Name,
		itemWait: cfg.ItemWait,
		retain:   cfg.Relay.Retention,
		log:      cfg.Log,
		items:    map[string]*entry{},
		arrivals: make(chan string, 4096),
		ctx:      mctx,
		cancel:   cancel,
	}
	rc := cfg.Relay
	rc.Handler = relay.HandlerFunc(m.handleItem)
	rc.Decisions = relay.DecisionFunc(m.handleDecision)
	r, err := relay.New(rc)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("relay member %s: %w", cfg.Relay.Name, err)
	}
	m.r = r
	m.wg.Add(2)
	go m.arrivalLoop()
	go m.sweepLoop()
	if len(cfg.Seeds) == 0 {
		m.joined.Store(true)
	} else {
		m.wg.Add(1)
		go m.joinLoop(ctx, cfg.Seeds, cfg.JoinRetry)
	}
	return m, nil
}

// joinLoop joins the seeds, retrying: members start in any order and a
// seed's DNS name may not resolve until its pods exist.
func (m *Member) joinLoop(ctx context.Context, seeds []string, retry time.Duration) {
	defer m.wg.Done()
	for {
		n, err := m.r.Join(ctx, seeds...)
		if err == nil {
			m.joined.Store(true)
			m.log.Info().Int("contacted", n).Int("members", len(m.r.Members())).Msg("joined the tree")
			return
		}
		m.log.Warn().Err(err).Dur("retry", retry).Msg("tree join failed")
		select {
		case <-ctx.Done():
			return
		case <-m.ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

// Joined reports whether a seed answered (true at once without seeds).
func (m *Member) Joined() bool { return m.joined.Load() }

// Relay is the underlying relay member.
func (m *Member) Relay() *relay.Relay { return m.r }

// GossipAddr is the "host:port" other members can join through.
func (m *Member) GossipAddr() string { return m.r.GossipAddr() }

// Leave tells the cluster this member is going, lets queued messages drain
// until ctx ends, and stops. Gathers still waiting return tree.ErrClosed.
func (m *Member) Leave(ctx context.Context) error {
	m.cancel()
	err := m.r.Leave(ctx)
	m.wg.Wait()
	if err != nil && !errors.Is(err, relay.ErrClosed) {
		return fmt.Errorf("leave tree: %w", err)
	}
	return nil
}

// Shutdown stops at once, as a crash would (tests).
func (m *Member) Shutdown() {
	m.cancel()
	_ = m.r.Shutdown()
	m.wg.Wait()
}

// Self implements tree.Tree.
func (m *Member) Self() string { return m.name }

// Members implements tree.Tree: the scheduling members gossip knows of.
func (m *Member) Members() []string {
	var out []string
	for _, mb := range m.r.Members() {
		if mb.Role.Schedules() {
			out = append(out, mb.Name)
		}
	}
	slices.Sort(out)
	return out
}

// OnItem sets the function told (off the relay's goroutines, not
// blocking it) about every item that reaches this member; nil clears it. The
// app uses it to bring the pod back into its scheduling queue.
func (m *Member) OnItem(f func(key string)) {
	if f == nil {
		m.onItem.Store(nil)
		return
	}
	m.onItem.Store(&f)
}

// OnDecision sets the function that receives the decisions of items this
// member submitted (the root's intake); nil drops them. It must not block.
func (m *Member) OnDecision(f func(relay.Decision)) {
	if f == nil {
		m.onDecision.Store(nil)
		return
	}
	m.onDecision.Store(&f)
}

// Submit sends one item per key down the tree rooted at this member, each
// decided at the latest deadline after now, and returns their request ids.
func (m *Member) Submit(deadline time.Duration, keys ...string) ([]uint64, error) {
	items := make([]relay.Item, len(keys))
	dl := time.Now().Add(deadline)
	for i, k := range keys {
		items[i] = relay.Item{Key: k, Deadline: dl}
	}
	if err := m.r.Submit(items...); err != nil {
		return nil, fmt.Errorf("submit %d items: %w", len(keys), err)
	}
	ids := make([]uint64, len(items))
	for i := range items {
		ids[i] = items[i].RequestID
	}
	return ids, nil
}

func (m *Member) handleDecision(d relay.Decision) {
	if f := m.onDecision.Load(); f != nil {
		(*f)(d)
	}
}

// handleItem records the newest item of each key and wakes the Gathers
// waiting for it. It runs on the relay's receiving stream: no blocking.
func (m *Member) handleItem(it relay.Item) {
	m.mu.Lock()
	e := m.items[it.Key]
	if e == nil {
		e = &entry{arrived: make(chan struct{})}
		m.items[it.Key] = e
	}
	if e.have && !it.Deadline.After(e.item.Deadline) {
		m.mu.Unlock()
		return // an older item than the one held (re-ordered)
	}
	e.item, e.have, e.reported = it, true, false
	close(e.arrived)
	e.arrived = make(chan struct{})
	m.mu.Unlock()
	select {
	case m.arrivals <- it.Key:
	default:
		go m.notify(it.Key) // the loop is behind: do not hold up the relay
	}
}

func (m *Member) arrivalLoop() {
	defer m.wg.Done()
	for {
		select {
		case <-m.ctx.Done():
			return
		case key := <-m.arrivals:
			m.notify(key)
		}
	}
}

func (m *Member) notify(key string) {
	if f := m.onItem.Load(); f != nil {
		(*f)(key)
	}
}

// sweepLoop forgets items past their deadline plus the relay's retention.
func (m *Member) sweepLoop() {
	defer m.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case now := <-t.C:
			m.mu.Lock()
			for k, e := range m.items {
				if e.waiters == 0 && (!e.have || e.item.Deadline.Add(m.retain).Before(now)) {
					delete(m.items, k)
				}
			}
			m.mu.Unlock()
		}
	}
}

// HasItem reports whether an item for key has arrived that this member has
// not reported yet and whose deadline has not passed: the pod may be
// scheduled now without waiting for its item (DistPermit's gate).
func (m *Member) HasItem(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.items[key]
	return e != nil && e.have && !e.reported && time.Until(e.item.Deadline) > 0
}

// Gather implements tree.Tree. It waits (at most ItemWait) for the newest
// item of key that this member has not reported yet and whose deadline has
// not passed, reports bid for it and waits for the verdict. Without such an
// item in time, or when the verdict is a loss, the answer is tree.Elsewhere:
// the pod is left to the root, which submits it again while nobody has won
// it.
func (m *Member) Gather(ctx context.Context, key string, bid tree.Bid) (tree.Verdict, error) {
	it, ok, err := m.awaitItem(ctx, key)
	if err != nil {
		return tree.Verdict{}, err
	}
	members := len(m.Members())
	if !ok {
		return tree.Verdict{Winner: tree.Elsewhere, Expected: members, Bids: members}, nil
	}
	sc := relay.Score{Node: bid.Node, Score: bid.Score, NoFeasibleNode: bid.Node == "", Reason: bid.Reason}
	v, err := m.r.ReportWait(ctx, it, sc)
	if err != nil {
		return tree.Verdict{}, err
	}
	if v.Win {
		return tree.Verdict{Winner: m.name, Node: bid.Node, Score: bid.Score, Expected: members, Bids: members}, nil
	}
	if v.Reason == "member closed" && m.ctx.Err() != nil {
		return tree.Verdict{}, tree.ErrClosed
	}
	return tree.Verdict{Winner: tree.Elsewhere, Expected: members, Bids: members}, nil
}

// awaitItem returns the item to report for key, marking it reported; false
// when none came within ItemWait.
func (m *Member) awaitItem(ctx context.Context, key string) (relay.Item, bool, error) {
	timer := time.NewTimer(m.itemWait)
	defer timer.Stop()
	m.mu.Lock()
	e := m.items[key]
	if e == nil {
		e = &entry{arrived: make(chan struct{})}
		m.items[key] = e
	}
	e.waiters++
	defer func() {
		m.mu.Lock()
		e.waiters--
		m.mu.Unlock()
	}()
	for {
		if e.have && !e.reported && time.Until(e.item.Deadline) > 0 {
			e.reported = true
			it := e.item
			m.mu.Unlock()
			return it, true, nil
		}
		ch := e.arrived
		m.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return relay.Item{}, false, nil
		case <-ctx.Done():
			return relay.Item{}, false, ctx.Err()
		case <-m.ctx.Done():
			return relay.Item{}, false, tree.ErrClosed
		}
		m.mu.Lock()
	}
}
