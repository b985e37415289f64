package relay

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	relayv1 "github.com/k8s1m/k8s1m/proto/relay/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// peer is this member's connection to another member and the long-lived
// streams over it. One connection per peer, one stream per purpose: items never
// cost a connection or a stream of their own.
type peer struct {
	r      *Relay
	name   string
	addr   string
	conn   *grpc.ClientConn
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards the links, started on first use.
	mu      sync.Mutex
	scatter *scatterLink
	report  *reportLink
	decide  *decideLink

	// down is set while the peer's Report stream cannot be (re)opened: new
	// scores for it go to the next gatherer instead.
	down atomic.Bool
	// refused is set when the last TCP connect to the peer was refused or
	// failed outright (nothing listens there: the member is gone), and
	// cleared when one succeeds; a connect that timed out changes nothing.
	// It tells a gone member from a live one too busy to finish the
	// connection's handshake in time: grpc holds both in TransientFailure.
	refused atomic.Bool
}

// unreachable reports whether member name is known to be unreachable.
func (r *Relay) unreachable(name string) bool {
	r.peersMu.Lock()
	p := r.peers[name]
	r.peersMu.Unlock()
	return p != nil && p.down.Load()
}

// peer returns the link to member name, or nil when name is not in the current
// view (it left: callers drop or re-route what they meant to send).
func (r *Relay) peer(name string) *peer {
	r.peersMu.Lock()
	defer r.peersMu.Unlock()
	if p, ok := r.peers[name]; ok {
		return p
	}
	if r.closed.Load() {
		return nil
	}
	m, ok := r.cur.Load().byName[name]
	if !ok {
		return nil
	}
	creds := insecure.NewCredentials()
	if r.cfg.ClientTLS != nil {
		creds = credentials.NewTLS(r.cfg.ClientTLS)
	}
	p := &peer{r: r, name: name, addr: m.GRPCAddr}
	// passthrough: the address is dialed as given (the dialer resolves names);
	// grpc's default dns resolver made hundreds of new connections in one
	// process wait seconds for their first pick.
	conn, err := grpc.NewClient("passthrough:///"+m.GRPCAddr, grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(p.dial),
		// Peers come and go; a failed connect is retried soon rather than
		// after grpc's default backoff of up to two minutes. Each attempt
		// (TCP connect and handshake) may take grpc's default 20 s: with 5 s,
		// hundreds of connections opened at once by a starved process timed
		// out their handshakes and started over, again and again.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 20 * time.Second,
		}))
	if err != nil {
		// Only a malformed address gets here; the member is unusable.
		r.log.Error().Err(err).Str("peer", name).Str("addr", m.GRPCAddr).Msg("dial peer")
		return nil
	}
	p.conn = conn
	p.ctx, p.cancel = context.WithCancel(r.ctx)
	r.peers[name] = p
	return p
}

// dial opens the TCP connection under the peer's grpc connection and records
// whether it was refused. TCP keepalives are on with the OS's timings, as
// with grpc's own dialer. (A dialer of our own also means grpc does not send
// links to peers through an HTTPS_PROXY from the environment.)
func (p *peer) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: -1, Interval: -1, Count: -1}}
	c, err := d.DialContext(ctx, "tcp", addr)
	var ne net.Error
	switch {
	case err == nil:
		p.refused.Store(false)
	case ctx.Err() != nil, errors.As(err, &ne) && ne.Timeout():
		// Timed out or given up: a starved peer (or a full accept queue)
		// looks like this too, so it proves nothing.
	default:
		p.refused.Store(true)
	}
	return c, err
}

func (p *peer) close() {
	p.cancel()
	p.mu.Lock()
	if p.scatter != nil {
		p.scatter.ob.close()
	}
	if p.report != nil {
		p.report.ob.close()
	}
	if p.decide != nil {
		p.decide.ob.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	_ = p.conn.Close()
}

// queued is the number of messages waiting to be sent to this peer.
func (p *peer) queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	if p.scatter != nil {
		n += p.scatter.ob.len()
	}
	if p.report != nil {
		n += p.report.ob.len()
	}
	if p.decide != nil {
		n += p.decide.ob.len()
	}
	return n
}

func (p *peer) scatterLink() *scatterLink {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.scatter == nil {
		p.scatter = &scatterLink{p: p, ob: newOutbox[scatterEntry](0, p.r.cfg.maxQueue(), p.r.metrics.overflowScatter), client: relayv1.NewScatterServiceClient(p.conn)}
		p.start(p.scatter.run)
	}
	return p.scatter
}

func (p *peer) reportLink() *reportLink {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.report == nil {
		p.report = &reportLink{p: p, ob: newOutbox[*relayv1.Score](p.r.cfg.BatchDelay, p.r.cfg.maxQueue(), p.r.metrics.overflowReport), client: relayv1.NewGatherServiceClient(p.conn)}
		p.start(p.report.run)
	}
	return p.report
}

func (p *peer) decideLink() *decideLink {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.decide == nil {
		p.decide = &decideLink{p: p, ob: newOutbox[*relayv1.Decision](p.r.cfg.BatchDelay, p.r.cfg.maxQueue(), p.r.metrics.overflowDecide), client: relayv1.NewGatherServiceClient(p.conn)}
		p.start(p.decide.run)
	}
	return p.decide
}

func (p *peer) start(run func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		run()
	}()
}

// backoff waits before a stream is opened again; false when the peer closed.
func (p *peer) backoff(failures int) bool {
	d := 20 * time.Millisecond << min(failures, 6) // up to ~1.3s
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// openTimeout bounds how long opening a stream waits for its connection.
const openTimeout = 2 * time.Second

// session is one open stream of a link: send writes a batch, recv reads and
// handles one response, unacked is what must go out again on the next stream
// once this one broke.
type session[T any] interface {
	send(batch []T) error
	recv() error
	unacked() []T
}

// linkHooks are what differs between the links: how a stream is opened, and
// what happens when opening fails or succeeds.
type linkHooks[T any] struct {
	open func(ctx context.Context) (session[T], error)
	// openFailed is told each failed attempt with the failures in a row.
	openFailed func(failures int, err error)
	// opened is told each stream that opened; first is true for the first.
	opened func(first bool)
}

// runLink keeps one stream to peer p open and feeds it from ob: batches go out
// as they pile up, responses are handled as they come back, and when the
// stream breaks it is opened again after a backoff, with whatever the peer did
// not acknowledge queued in front. It returns when the peer closes.
func runLink[T any](p *peer, ob *outbox[T], h linkHooks[T]) {
	failures := 0
	first := true
	for p.ctx.Err() == nil {
		ctx, cancel := context.WithCancel(p.ctx)
		// Streams open with WaitForReady: a connection still being set up
		// (hundreds at once when a member joins) is waited for rather than
		// failing the open at once, which counted as the peer being down and
		// moved scores to a second gatherer. The wait is bounded so a peer
		// that cannot be reached still counts as down soon.
		tooLong := time.AfterFunc(openTimeout, cancel)
		s, err := h.open(ctx)
		if !tooLong.Stop() && err == nil {
			err = context.DeadlineExceeded // opened just as the wait ran out
		}
		if err != nil {
			cancel()
			failures++
			if h.openFailed != nil {
				h.openFailed(failures, err)
			}
			if !p.backoff(failures) {
				return
			}
			continue
		}
		if h.opened != nil {
			h.opened(first)
		}
		first = false
		ob.setKick(cancel) // an overflowing outbox closes this stream
		recvDone := make(chan struct{})
		go func() {
			defer close(recvDone)
			for s.recv() == nil {
			}
			cancel()
		}()
		for {
			batch, err := ob.take(ctx, p.r.cfg.MaxBatch)
			if err != nil {
				break
			}
			if err := s.send(batch); err != nil {
				break
			}
			failures = 0
		}
		ob.setKick(nil)
		cancel()
		<-recvDone
		ob.requeue(s.unacked())
		failures++
		if !p.backoff(failures) {
			return
		}
	}
}

// ackedBatches remembers the batches a stream sent until the peer
// acknowledges them; a stream's sender and receiver share it.
type ackedBatches[T any] struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64][]T
}

// add records a batch about to be sent and returns its id.
func (a *ackedBatches[T]) add(batch []T) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[uint64][]T{}
	}
	a.next++
	a.m[a.next] = batch
	return a.next
}

func (a *ackedBatches[T]) ack(ids []uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		delete(a.m, id)
	}
}

// rest is every batch not acknowledged, flattened.
func (a *ackedBatches[T]) rest() []T {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []T
	for _, b := range a.m {
		out = append(out, b...)
	}
	return out
}

// scatterEntry is one item on its way to a child, with the root of its tree.
type scatterEntry struct {
	root string
	item *relayv1.Item
}

// scatterLink is the parent side of the Scatter stream to one child. Batches
// the child has not acknowledged when the stream breaks are sent again on the
// next stream (the child drops duplicates), unless past their deadline.
type scatterLink struct {
	p      *peer
	ob     *outbox[scatterEntry]
	client relayv1.ScatterServiceClient
}

func (l *scatterLink) push(es ...scatterEntry) { l.ob.push(es...) }

func (l *scatterLink) run() {
	runLink(l.p, l.ob, linkHooks[scatterEntry]{open: func(ctx context.Context) (session[scatterEntry], error) {
		stream, err := l.client.Scatter(ctx, grpc.WaitForReady(true))
		if err != nil {
			return nil, err
		}
		return &scatterSession{l: l, stream: stream}, nil
	}})
}

type scatterSession struct {
	l      *scatterLink
	stream relayv1.ScatterService_ScatterClient
	sent   ackedBatches[scatterEntry]
}

// send splits the batch where the root changes (usually there is one root).
func (s *scatterSession) send(es []scatterEntry) error {
	r := s.l.p.r
	for start := 0; start < len(es); {
		end := start + 1
		for end < len(es) && es[end].root == es[start].root {
			end++
		}
		req := &relayv1.ScatterRequest{From: r.self.Name, Root: es[start].root, Items: make([]*relayv1.Item, 0, end-start)}
		for _, e := range es[start:end] {
			req.Items = append(req.Items, e.item)
		}
		req.BatchId = s.sent.add(es[start:end])
		if err := s.stream.Send(req); err != nil {
			return err
		}
		r.metrics.scatterBatches.Inc()
		r.metrics.sentScatter.Inc()
		start = end
	}
	return nil
}

func (s *scatterSession) recv() error {
	resp, err := s.stream.Recv()
	if err != nil {
		return err
	}
	s.sent.ack(resp.GetBatchIds())
	return nil
}

// unacked leaves out items past their deadline: the gatherer has decided
// without the child by now.
func (s *scatterSession) unacked() []scatterEntry {
	now := time.Now().UnixNano()
	var again []scatterEntry
	for _, e := range s.sent.rest() {
		if e.item.GetDeadlineUnixNano() > now {
			again = append(again, e)
		}
	}
	return again
}

// reportLink is the reporter side of the Report stream to one gatherer: scores
// go out in batches, verdicts come back. After a broken stream every score
// still without a verdict is sent again (the gatherer answers repeats with the
// verdict it already gave).
type reportLink struct {
	p      *peer
	ob     *outbox[*relayv1.Score]
	client relayv1.GatherServiceClient
}

func (l *reportLink) push(s ...*relayv1.Score) { l.ob.push(s...) }

func (l *reportLink) run() {
	r := l.p.r
	// dropped: the outbox was emptied while the gatherer was unreachable;
	// whatever of it is still pending for this gatherer (nowhere else to go)
	// goes out when a stream opens, even the first one.
	dropped := false
	runLink(l.p, l.ob, linkHooks[*relayv1.Score]{
		open: func(ctx context.Context) (session[*relayv1.Score], error) {
			stream, err := l.client.Report(ctx, grpc.WaitForReady(true))
			if err != nil {
				return nil, err
			}
			return &reportSession{r: r, gatherer: l.p.name, stream: stream}, nil
		},
		openFailed: func(failures int, err error) {
			state := l.p.conn.GetState()
			if gathererDown(failures, state, l.p.refused.Load()) && !l.p.down.Swap(true) {
				r.log.Warn().Err(err).Str("peer", l.p.name).Int("failures", failures).Str("conn", state.String()).Msg("gatherer unreachable: re-routing its scores")
				// Treat the gatherer as gone for now and move its scores on.
				l.ob.drop()
				dropped = true
				r.reports.unreachable(l.p.name)
			}
		},
		opened: func(first bool) {
			l.p.down.Store(false)
			if dropped {
				r.reports.reachable(l.p.name)
			}
			if !first || dropped {
				l.ob.requeue(r.reports.pendingFor(l.p.name))
			}
			dropped = false
		},
	})
}

// gathererDown says whether a gatherer whose Report stream failed to open
// failures times running, its connection now in state (refused: its last TCP
// connect was refused), counts as unreachable (its scores move to the next
// gatherer). A connection that failed because nothing listens at the address
// counts after two failed opens. A connection still being set up does not,
// however long that takes, unless opens keep failing (maxSlowOpens): at
// start-up every member opens a link to every gatherer at once, and on a
// starved machine those took longer than the open timeout; counting that as
// "down" moved scores to a second gatherer, so two gatherers decided the item,
// each without some of the scores (a wrong winner, and the other gatherer's
// reporters told "lose" or never told). Nor does a connection in
// TransientFailure whose TCP connect succeeded: its handshake timed out, which
// on such a machine is a live gatherer answering late (counting it left the
// first items of TestEveryItemDecidedOnce split between two gatherers, decided
// only at their deadline).
func gathererDown(failures int, state connectivity.State, refused bool) bool {
	switch state {
	case connectivity.TransientFailure, connectivity.Shutdown:
		if refused {
			return failures >= 2
		}
	}
	return failures >= maxSlowOpens
}

// maxSlowOpens is how many opens in a row may time out on a connection that
// has not failed before its gatherer counts as unreachable (about 12 s).
const maxSlowOpens = 5

type reportSession struct {
	r        *Relay
	gatherer string
	stream   relayv1.GatherService_ReportClient
}

func (s *reportSession) send(ss []*relayv1.Score) error {
	s.r.metrics.sentReport.Inc()
	return s.stream.Send(&relayv1.ReportRequest{From: s.r.self.Name, Scores: ss})
}

func (s *reportSession) recv() error {
	resp, err := s.stream.Recv()
	if err != nil {
		return err
	}
	for _, v := range resp.GetVerdicts() {
		s.r.reports.onVerdict(v, s.gatherer)
	}
	return nil
}

// unacked is nothing: the reporter's pending scores are re-sent when the next
// stream opens.
func (s *reportSession) unacked() []*relayv1.Score { return nil }

// decideLink is the gatherer side of the Decide stream to one origin;
// unacknowledged batches are sent again after a broken stream (the origin keeps
// only the first decision per item).
type decideLink struct {
	p      *peer
	ob     *outbox[*relayv1.Decision]
	client relayv1.GatherServiceClient
}

func (l *decideLink) push(d ...*relayv1.Decision) { l.ob.push(d...) }

func (l *decideLink) run() {
	runLink(l.p, l.ob, linkHooks[*relayv1.Decision]{open: func(ctx context.Context) (session[*relayv1.Decision], error) {
		stream, err := l.client.Decide(ctx, grpc.WaitForReady(true))
		if err != nil {
			return nil, err
		}
		return &decideSession{l: l, stream: stream}, nil
	}})
}

type decideSession struct {
	l      *decideLink
	stream relayv1.GatherService_DecideClient
	sent   ackedBatches[*relayv1.Decision]
}

func (s *decideSession) send(ds []*relayv1.Decision) error {
	id := s.sent.add(ds)
	s.l.p.r.metrics.sentDecide.Inc()
	return s.stream.Send(&relayv1.DecideRequest{From: s.l.p.r.self.Name, BatchId: id, Decisions: ds})
}

// recv takes the origin's answers: acknowledged batches, and which decisions
// it accepted, which the gatherer passes on to the winners.
func (s *decideSession) recv() error {
	resp, err := s.stream.Recv()
	if err != nil {
		return err
	}
	s.sent.ack(resp.GetBatchIds())
	g, origin := s.l.p.r.gather, s.l.p.name
	for _, id := range resp.GetAcceptedRequestIds() {
		g.confirm(itemID{origin: origin, id: id}, true)
	}
	for _, id := range resp.GetRejectedRequestIds() {
		g.confirm(itemID{origin: origin, id: id}, false)
	}
	return nil
}

func (s *decideSession) unacked() []*relayv1.Decision { return s.sent.rest() }
