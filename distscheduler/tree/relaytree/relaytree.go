// Package relaytree is the tree of a distscheduler member backed by the
// relay module: membership by gossip, items scattered down the tree from the
// root, bids gathered at each item's gatherer over gRPC.
//
// An item carries the pod itself (Kubernetes protobuf) in the relay item's
// payload, so members learn of pending pods from the tree alone. The relay
// tells a loser only "lose": the member forgets the pod, and the root submits
// again any pod nobody won.
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
	Log       zerolog.Logger
}

// Member is one member's handle on the relay tree; it implements tree.Tree.
type Member struct {
	r      *relay.Relay
	name   string
	log    zerolog.Logger
	joined atomic.Bool
	// count caches MemberCount for countTTL: it is asked once per pod.
	count atomic.Pointer[memberCount]

	tree.Hooks

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ tree.Tree = (*Member)(nil)

// Start creates the relay member (its gRPC server and gossip listener) and
// joins the seeds in the background, retrying until one answers.
func Start(ctx context.Context, cfg Config) (*Member, error) {
	if cfg.JoinRetry <= 0 {
		cfg.JoinRetry = 2 * time.Second
	}
	mctx, cancel := context.WithCancel(context.Background())
	m := &Member{name: cfg.Relay.Name, log: cfg.Log, ctx: mctx, cancel: cancel}
	rc := cfg.Relay
	rc.Handler = relay.HandlerFunc(m.handleItem)
	rc.Decisions = relay.DecisionFunc(m.handleDecision)
	r, err := relay.New(rc)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("relay member %s: %w", cfg.Relay.Name, err)
	}
	m.r = r
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

// countTTL is how stale MemberCount may be: gossip changes membership over
// seconds, and a count a moment old only shifts how a pod's search target is
// split among the members.
const countTTL = 250 * time.Millisecond

type memberCount struct {
	n  int
	at time.Time
}

// MemberCount implements tree.Member: len(Members()), cached for countTTL.
func (m *Member) MemberCount() int {
	now := time.Now()
	if c := m.count.Load(); c != nil && now.Sub(c.at) < countTTL {
		return c.n
	}
	n := 0
	for _, mb := range m.r.Members() {
		if mb.Role.Schedules() {
			n++
		}
	}
	m.count.Store(&memberCount{n: n, at: now})
	return n
}

// Submit implements tree.Root: one relay item per tree item, the pod in its
// payload, all decided at the latest deadline after now.
func (m *Member) Submit(deadline time.Duration, items ...tree.Item) ([]uint64, error) {
	ris := make([]relay.Item, len(items))
	dl := time.Now().Add(deadline)
	for i, it := range items {
		ris[i] = relay.Item{Key: it.Key, Payload: it.Pod, Deadline: dl}
	}
	if err := m.r.Submit(ris...); err != nil {
		return nil, fmt.Errorf("submit %d items: %w", len(items), err)
	}
	ids := make([]uint64, len(ris))
	for i := range ris {
		ids[i] = ris[i].RequestID
	}
	return ids, nil
}

func (m *Member) handleDecision(d relay.Decision) { m.Decision(d) }

// handleItem hands an arriving item to the member; it runs on the relay's
// receiving stream, and so does the receiver (which only queues it).
func (m *Member) handleItem(it relay.Item) {
	m.Item(tree.Item{Key: it.Key, Pod: it.Payload, Deadline: it.Deadline, Ref: it})
}

// Report implements tree.Member.
func (m *Member) Report(it tree.Item, bid tree.Bid, done func(tree.Verdict)) {
	ri, ok := it.Ref.(relay.Item)
	if !ok {
		done(tree.Verdict{Reason: "item did not come from the relay tree"})
		return
	}
	sc := relay.Score{Node: bid.Node, Score: bid.Score, NoFeasibleNode: !bid.Feasible(), Reason: bid.Reason}
	m.r.Report(ri, sc, func(v relay.Verdict) { done(tree.Verdict{Win: v.Win, Reason: v.Reason}) })
}
