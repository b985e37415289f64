package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/memberlist"
	relayv1 "github.com/k8s1m/k8s1m/proto/relay/v1"
	"github.com/k8s1m/k8s1m/relay/tree"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// ErrClosed is returned by calls on a member that has left or shut down.
var ErrClosed = errors.New("relay: member is closed")

// Relay is one member of the cluster. It is safe for concurrent use.
type Relay struct {
	cfg     Config
	log     zerolog.Logger
	self    Member
	metrics *metrics

	ctx    context.Context // cancelled by Leave/Shutdown; every goroutine watches it
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	lis net.Listener
	srv *grpc.Server
	ml  *memberlist.Memberlist

	// memMu guards members and seq and serialises view publication, so views
	// are published in the order memberlist reported the changes.
	memMu   sync.Mutex
	members map[string]Member
	seq     uint64
	cur     atomic.Pointer[view]
	// viewChanged wakes the loop that reacts to new views (peers, gathers,
	// reports, re-scatter); changes coalesce.
	viewChanged chan struct{}

	// peersMu guards peers: links to other members, created on first use and
	// closed when the member leaves the view or changes address.
	peersMu sync.Mutex
	peers   map[string]*peer

	flights   *flights
	deadlines *deadlines
	gather    *gatherer
	reports   *reporter
	origin    *originTable

	ids *requestIDs
}

// New starts a member: its gRPC server and its gossip listener. It is alone
// until Join. Call Leave (graceful) or Shutdown when done.
func New(cfg Config) (*Relay, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("relay config: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{
		cfg:         cfg,
		log:         cfg.Logger.With().Str("member", cfg.Name).Logger(),
		ctx:         ctx,
		cancel:      cancel,
		members:     map[string]Member{},
		viewChanged: make(chan struct{}, 1),
		peers:       map[string]*peer{},
	}
	r.metrics = newMetrics(cfg.Registerer)
	r.flights = newFlights()
	r.deadlines = newDeadlines()
	r.gather = newGatherer(r)
	r.reports = newReporter(r)
	r.origin = newOriginTable(r)
	ids, err := newRequestIDs()
	if err != nil {
		cancel()
		return nil, err
	}
	r.ids = ids
	if missing := cfg.insecurity(); len(missing) > 0 {
		r.log.Warn().Strs("missing", missing).Msg("insecure relay member (AllowInsecure): anyone who reaches its ports can join the tree, read its items and forge scores and decisions; for loopback tests only")
	}

	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("listen grpc %s: %w", cfg.GRPCAddr, err)
	}
	r.lis = lis
	advertise, err := advertiseGRPCAddr(cfg, lis.Addr().(*net.TCPAddr))
	if err != nil {
		_ = lis.Close()
		cancel()
		return nil, err
	}
	r.self = Member{Name: cfg.Name, Role: cfg.Role, GRPCAddr: advertise, Version: cfg.Version}

	var opts []grpc.ServerOption
	if cfg.ServerTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.ServerTLS)))
	}
	r.srv = grpc.NewServer(opts...)
	s := &server{r: r}
	relayv1.RegisterScatterServiceServer(r.srv, s)
	relayv1.RegisterGatherServiceServer(r.srv, s)
	relayv1.RegisterHealthServiceServer(r.srv, s)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := r.srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			r.log.Error().Err(err).Msg("grpc server stopped")
		}
	}()

	// Publish ourselves before memberlist starts so a view is never empty.
	r.memMu.Lock()
	r.members[r.self.Name] = r.self
	r.publishLocked()
	r.memMu.Unlock()

	meta, err := encodeMeta(r.self)
	if err != nil {
		r.stop()
		return nil, fmt.Errorf("encode member metadata: %w", err)
	}
	mlc := *cfg.Memberlist
	mlc.Name = cfg.Name
	mlc.BindAddr = cfg.GossipAddr
	mlc.BindPort = cfg.GossipPort
	mlc.AdvertiseAddr = cfg.AdvertiseGossipAddr
	mlc.AdvertisePort = cfg.AdvertiseGossipPort
	mlc.Delegate = &delegate{meta: meta}
	mlc.Events = events{r: r}
	mlc.LogOutput = nil
	mlc.Logger = memberlistLogger(r.log)
	if len(cfg.GossipKeys) > 0 {
		kr, err := memberlist.NewKeyring(cfg.GossipKeys[1:], cfg.GossipKeys[0])
		if err != nil {
			r.stop()
			return nil, fmt.Errorf("gossip keyring: %w", err)
		}
		mlc.Keyring = kr
	}
	ml, err := memberlist.Create(&mlc)
	if err != nil {
		r.stop()
		return nil, fmt.Errorf("start memberlist on %s: %w", net.JoinHostPort(cfg.GossipAddr, strconv.Itoa(cfg.GossipPort)), err)
	}
	r.ml = ml

	r.wg.Add(3)
	go r.viewLoop()
	go r.sweepLoop()
	go func() {
		defer r.wg.Done()
		r.deadlines.run(r.ctx)
	}()
	r.log.Info().Str("grpc", advertise).Str("gossip", ml.LocalNode().Address()).Str("role", cfg.Role.String()).Msg("relay member started")
	return r, nil
}

// Join contacts seeds ("host:port"; a DNS name joins every address it resolves
// to) and returns how many answered. Joining none is an error.
func (r *Relay) Join(ctx context.Context, seeds ...string) (int, error) {
	if r.closed.Load() {
		return 0, ErrClosed
	}
	if len(seeds) == 0 {
		return 0, errors.New("join: no seeds")
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := r.ml.Join(seeds)
		done <- result{n, err}
	}()
	select {
	case <-ctx.Done():
		return 0, fmt.Errorf("join %v: %w", seeds, ctx.Err())
	case res := <-done:
		if res.n == 0 && res.err != nil {
			return 0, fmt.Errorf("join %v: %w", seeds, res.err)
		}
		return res.n, nil
	}
}

// Leave tells the cluster this member is going (so nobody waits for its failure
// to be detected), lets queued messages drain until ctx is done, and stops.
func (r *Relay) Leave(ctx context.Context) error {
	if r.closed.Load() {
		return ErrClosed
	}
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	var errs []error
	if err := r.ml.Leave(timeout); err != nil {
		errs = append(errs, fmt.Errorf("gossip leave: %w", err))
	}
	r.drain(ctx)
	errs = append(errs, r.stop())
	return errors.Join(errs...)
}

// Shutdown stops at once without telling anyone: the cluster finds out by
// failure detection, as after a crash.
func (r *Relay) Shutdown() error {
	if r.closed.Load() {
		return ErrClosed
	}
	return r.stop()
}

// stop tears everything down; safe to call once.
func (r *Relay) stop() error {
	if !r.closed.CompareAndSwap(false, true) {
		return nil
	}
	var err error
	if r.ml != nil {
		if e := r.ml.Shutdown(); e != nil {
			err = fmt.Errorf("memberlist shutdown: %w", e)
		}
	}
	r.cancel()
	r.srv.Stop()
	// Close the links outside peersMu, as reconcilePeers does: closing waits
	// for each link's goroutine, and a link giving up on its gatherer re-routes
	// the scores it holds through r.peer, which takes peersMu (a shutdown
	// deadlock seen in BenchmarkTree34). r.closed is set, so r.peer opens no
	// new link meanwhile.
	r.peersMu.Lock()
	open := r.peers
	r.peers = make(map[string]*peer)
	r.peersMu.Unlock()
	for _, p := range open {
		p.close()
	}
	r.reports.closeAll()
	r.origin.closeAll()
	r.wg.Wait()
	r.log.Info().Msg("relay member stopped")
	return err
}

// drain waits until every link's outbox is empty or ctx is done.
func (r *Relay) drain(ctx context.Context) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		pending := 0
		r.peersMu.Lock()
		for _, p := range r.peers {
			pending += p.queued()
		}
		r.peersMu.Unlock()
		if pending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Name is this member's name.
func (r *Relay) Name() string { return r.self.Name }

// Self is this member as gossip describes it.
func (r *Relay) Self() Member { return r.self }

// GRPCAddr is the address peers dial.
func (r *Relay) GRPCAddr() string { return r.self.GRPCAddr }

// GossipAddr is the "host:port" other members can join through.
func (r *Relay) GossipAddr() string { return r.ml.LocalNode().Address() }

// Members is the current membership, sorted by name.
func (r *Relay) Members() []Member {
	v := r.cur.Load()
	out := make([]Member, len(v.members))
	copy(out, v.members)
	return out
}

// Tree is the tree rooted at root in the current membership.
func (r *Relay) Tree(root string) (*tree.Tree, error) {
	if t := r.cur.Load().tree(root, r.cfg.Fanout); t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("tree rooted at %q: %w", root, tree.ErrNoRoot)
}

// Gatherer is the member that would gather key in the current membership
// when key is submitted alone or first in its Submit (see gatherRun).
func (r *Relay) Gatherer(key string) string { return r.cur.Load().gatherer(key) }

// memberUp records a join or metadata update from memberlist.
func (r *Relay) memberUp(n *memberlist.Node, update bool) {
	m, err := decodeMeta(n.Name, n.Meta)
	if err != nil {
		r.log.Warn().Err(err).Str("peer", n.Name).Msg("ignoring member")
		return
	}
	r.memMu.Lock()
	old, had := r.members[m.Name]
	r.members[m.Name] = m
	if !had || old != m {
		r.publishLocked()
	}
	r.memMu.Unlock()
	r.log.Debug().Str("peer", m.Name).Str("role", m.Role.String()).Str("grpc", m.GRPCAddr).Bool("update", update).Msg("member up")
	if r.cfg.Events != nil && m.Name != r.self.Name {
		if had {
			r.cfg.Events.MemberUpdated(m)
		} else {
			r.cfg.Events.MemberJoined(m)
		}
	}
}

// memberDown records a leave or failure from memberlist.
func (r *Relay) memberDown(name string) {
	if name == r.self.Name {
		return
	}
	r.memMu.Lock()
	m, had := r.members[name]
	delete(r.members, name)
	if had {
		r.publishLocked()
	}
	r.memMu.Unlock()
	if !had {
		return
	}
	r.log.Info().Str("peer", name).Msg("member left")
	if r.cfg.Events != nil {
		r.cfg.Events.MemberLeft(m)
	}
}

// publishLocked makes a new view of members current; memMu must be held.
func (r *Relay) publishLocked() {
	r.seq++
	byName := make(map[string]Member, len(r.members))
	for k, v := range r.members {
		byName[k] = v
	}
	r.cur.Store(newView(r.seq, byName))
	r.metrics.setMembers(byName)
	select {
	case r.viewChanged <- struct{}{}:
	default:
	}
}

// viewLoop reacts to membership changes: items in flight are handed to new
// children, reports are re-routed from gatherers that left, and gatherers stop
// waiting for members that left.
func (r *Relay) viewLoop() {
	defer r.wg.Done()
	prev := r.cur.Load()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.viewChanged:
		}
		v := r.cur.Load()
		if v == prev {
			continue
		}
		r.reconcilePeers(v)
		r.gather.membersChanged(v)
		r.reports.membersChanged(v)
		r.rescatter(prev, v)
		prev = v
	}
}

// reconcilePeers closes the links to members that left or moved to another
// address. It runs here, not in memberlist's callbacks, because closing waits
// for the links' goroutines and memberlist must not be held up by that.
//
// It closes against the loop's view v, not a newer one, on purpose: a link
// opened meanwhile to a member that came back may be closed, but everything
// that follows on this view change (re-routed scores, re-sent decisions,
// re-scatter) sees the same view, and the member's return is a later view
// change that re-opens what is needed.
func (r *Relay) reconcilePeers(v *view) {
	var stale []*peer
	r.peersMu.Lock()
	for name, p := range r.peers {
		if m, ok := v.byName[name]; !ok || m.GRPCAddr != p.addr {
			stale = append(stale, p)
			delete(r.peers, name)
		}
	}
	r.peersMu.Unlock()
	for _, p := range stale {
		r.log.Info().Str("peer", p.name).Str("addr", p.addr).Msg("closing links to a member that left or moved")
		p.close()
	}
}

// sweepLoop forgets items past their retention.
func (r *Relay) sweepLoop() {
	defer r.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case now := <-tick.C:
			r.flights.sweep(now, r.cfg.Retention)
			r.gather.sweep(now)
			r.origin.sweep(now)
		}
	}
}

// advertiseGRPCAddr is the gRPC address peers dial: the configured one, or the
// listener's when it is bound to a specific IP, or else the IP gossip advertises
// (explicit, bound, or the first private IP, as memberlist picks it).
func advertiseGRPCAddr(cfg Config, lis *net.TCPAddr) (string, error) {
	if cfg.AdvertiseGRPCAddr != "" {
		return cfg.AdvertiseGRPCAddr, nil
	}
	if !lis.IP.IsUnspecified() {
		return lis.String(), nil
	}
	port := strconv.Itoa(lis.Port)
	switch {
	case cfg.AdvertiseGossipAddr != "":
		return net.JoinHostPort(cfg.AdvertiseGossipAddr, port), nil
	case cfg.GossipAddr != "" && cfg.GossipAddr != "0.0.0.0" && cfg.GossipAddr != "::":
		return net.JoinHostPort(cfg.GossipAddr, port), nil
	}
	ip, err := sockaddr.GetPrivateIP()
	if err != nil || ip == "" {
		return "", fmt.Errorf("grpc listens on %s and no private IP was found to advertise: set the advertise address (%v)", lis, err)
	}
	return net.JoinHostPort(ip, port), nil
}
