package relay

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	relayv1 "github.com/k8s1m/k8s1m/proto/relay/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
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
	// passthrough: the address is dialed as given (the dialer resolves names);
	// grpc's default dns resolver made hundreds of new connections in one
	// process wait seconds for their first pick.
	conn, err := grpc.NewClient("passthrough:///"+m.GRPCAddr, grpc.WithTransportCredentials(creds),
		// Peers come and go; a failed connect is retried soon rather than
		// after grpc's default backoff of up to two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}))
	if err != nil {
		// Only a malformed address gets here; the member is unusable.
		r.log.Error().Err(err).Str("peer", name).Str("addr", m.GRPCAddr).Msg("dial peer")
		return nil
	}
	ctx, cancel := context.WithCancel(r.ctx)
	p := &peer{r: r, name: name, addr: m.GRPCAddr, conn: conn, ctx: ctx, cancel: cancel}
	r.peers[name] = p
	return p
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
		p.scatter = &scatterLink{p: p, ob: newOutbox[scatterEntry](), client: relayv1.NewScatterServiceClient(p.conn)}
		p.start(p.scatter.run)
	}
	return p.scatter
}

func (p *peer) reportLink() *reportLink {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.report == nil {
		p.report = &reportLink{p: p, ob: newOutbox[*relayv1.Score](), client: relayv1.NewGatherServiceClient(p.conn)}
		p.start(p.report.run)
	}
	return p.report
}

func (p *peer) decideLink() *decideLink {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.decide == nil {
		p.decide = &decideLink{p: p, ob: newOutbox[*relayv1.Decision](), client: relayv1.NewGatherServiceClient(p.conn)}
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

// scatterEntry is one item on its way to a child, with the root of its tree.
type scatterEntry struct {
	root string
	item *relayv1.Item
}

// scatterLink is the parent side of the Scatter stream to one child.
type scatterLink struct {
	p      *peer
	ob     *outbox[scatterEntry]
	client relayv1.ScatterServiceClient
}

func (l *scatterLink) push(es ...scatterEntry) { l.ob.push(es...) }

// run keeps a Scatter stream open and sends batches; batches the child has not
// acknowledged when the stream breaks are sent again on the next stream (the
// child drops duplicates).
func (l *scatterLink) run() {
	r := l.p.r
	var batchID uint64
	failures := 0
	for l.p.ctx.Err() == nil {
		ctx, cancel := context.WithCancel(l.p.ctx)
		stream, err := l.client.Scatter(ctx)
		if err != nil {
			cancel()
			failures++
			if !l.p.backoff(failures) {
				return
			}
			continue
		}
		var mu sync.Mutex
		unacked := map[uint64][]scatterEntry{}
		recvDone := make(chan struct{})
		go func() {
			defer close(recvDone)
			for {
				resp, err := stream.Recv()
				if err != nil {
					cancel()
					return
				}
				mu.Lock()
				for _, id := range resp.GetBatchIds() {
					delete(unacked, id)
				}
				mu.Unlock()
			}
		}()
		for {
			es, err := l.ob.take(ctx, r.cfg.MaxBatch)
			if err != nil {
				break
			}
			// Usually one root; split batches where the root changes.
			sent := true
			for start := 0; start < len(es); {
				end := start + 1
				for end < len(es) && es[end].root == es[start].root {
					end++
				}
				batchID++
				req := &relayv1.ScatterRequest{From: r.self.Name, Root: es[start].root, BatchId: batchID, Items: make([]*relayv1.Item, 0, end-start)}
				for _, e := range es[start:end] {
					req.Items = append(req.Items, e.item)
				}
				mu.Lock()
				unacked[batchID] = es[start:end]
				mu.Unlock()
				if err := stream.Send(req); err != nil {
					sent = false
					break
				}
				r.metrics.scatterBatches.Inc()
				start = end
			}
			if !sent {
				break
			}
			failures = 0
		}
		cancel()
		<-recvDone
		// Whatever the child did not acknowledge goes out again, unless it is
		// past its deadline (the gatherer has decided without it by now).
		now := time.Now().UnixNano()
		var again []scatterEntry
		for _, es := range unacked {
			for _, e := range es {
				if e.item.GetDeadlineUnixNano() > now {
					again = append(again, e)
				}
			}
		}
		l.ob.requeue(again)
		failures++
		if !l.p.backoff(failures) {
			return
		}
	}
}

// reportLink is the reporter side of the Report stream to one gatherer.
type reportLink struct {
	p      *peer
	ob     *outbox[*relayv1.Score]
	client relayv1.GatherServiceClient
}

func (l *reportLink) push(s ...*relayv1.Score) { l.ob.push(s...) }

// run keeps a Report stream open: scores go out in batches, verdicts come back.
// After a broken stream every score still without a verdict is sent again (the
// gatherer answers repeats with the verdict it already gave).
func (l *reportLink) run() {
	r := l.p.r
	failures := 0
	first := true
	for l.p.ctx.Err() == nil {
		ctx, cancel := context.WithCancel(l.p.ctx)
		stream, err := l.client.Report(ctx)
		if err != nil {
			cancel()
			failures++
			if failures >= 2 && !l.p.down.Swap(true) {
				// Opening failed twice running: treat the gatherer as gone
				// for now and move its scores on.
				l.ob.drop()
				r.reports.unreachable(l.p.name)
			}
			if !l.p.backoff(failures) {
				return
			}
			continue
		}
		l.p.down.Store(false)
		if !first {
			l.ob.requeue(r.reports.pendingFor(l.p.name))
		}
		first = false
		recvDone := make(chan struct{})
		go func() {
			defer close(recvDone)
			for {
				resp, err := stream.Recv()
				if err != nil {
					cancel()
					return
				}
				for _, v := range resp.GetVerdicts() {
					r.reports.onVerdict(v)
				}
			}
		}()
		for {
			ss, err := l.ob.take(ctx, r.cfg.MaxBatch)
			if err != nil {
				break
			}
			if err := stream.Send(&relayv1.ReportRequest{From: r.self.Name, Scores: ss}); err != nil {
				break
			}
			failures = 0
		}
		cancel()
		<-recvDone
		failures++
		if !l.p.backoff(failures) {
			return
		}
	}
}

// decideLink is the gatherer side of the Decide stream to one origin.
type decideLink struct {
	p      *peer
	ob     *outbox[*relayv1.Decision]
	client relayv1.GatherServiceClient
}

func (l *decideLink) push(d ...*relayv1.Decision) { l.ob.push(d...) }

// run keeps a Decide stream open; unacknowledged batches are sent again after
// a broken stream (the origin keeps only the first decision per item).
func (l *decideLink) run() {
	r := l.p.r
	var batchID uint64
	failures := 0
	for l.p.ctx.Err() == nil {
		ctx, cancel := context.WithCancel(l.p.ctx)
		stream, err := l.client.Decide(ctx)
		if err != nil {
			cancel()
			failures++
			if !l.p.backoff(failures) {
				return
			}
			continue
		}
		var mu sync.Mutex
		unacked := map[uint64][]*relayv1.Decision{}
		recvDone := make(chan struct{})
		go func() {
			defer close(recvDone)
			for {
				resp, err := stream.Recv()
				if err != nil {
					cancel()
					return
				}
				mu.Lock()
				for _, id := range resp.GetBatchIds() {
					delete(unacked, id)
				}
				mu.Unlock()
				for _, id := range resp.GetAcceptedRequestIds() {
					r.gather.confirm(itemID{origin: l.p.name, id: id}, true)
				}
				for _, id := range resp.GetRejectedRequestIds() {
					r.gather.confirm(itemID{origin: l.p.name, id: id}, false)
				}
			}
		}()
		for {
			ds, err := l.ob.take(ctx, r.cfg.MaxBatch)
			if err != nil {
				break
			}
			batchID++
			mu.Lock()
			unacked[batchID] = ds
			mu.Unlock()
			if err := stream.Send(&relayv1.DecideRequest{From: r.self.Name, BatchId: batchID, Decisions: ds}); err != nil {
				break
			}
			failures = 0
		}
		cancel()
		<-recvDone
		var again []*relayv1.Decision
		for _, ds := range unacked {
			again = append(again, ds...)
		}
		l.ob.requeue(again)
		failures++
		if !l.p.backoff(failures) {
			return
		}
	}
}
