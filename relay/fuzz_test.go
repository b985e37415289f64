package relay

import (
	"context"
	"testing"
	"time"

	relayv1 "github.com/k8s1m/k8s1m/proto/relay/v1"
	"google.golang.org/protobuf/proto"
)

// FuzzServerRequests feeds decoded requests of every kind the gRPC server takes
// (a Scatter batch, a Report batch, a Decide batch, a Hello) to the functions
// its stream handlers run on each message, on a live member, with and without
// a certificate identity. Whatever a peer sends must not panic; what it makes
// the member keep is bounded by MaxDeadline (deadlines capped) and MaxQueue
// (the verdict queue), both small here. `go test` runs the seeds below;
// `go test -fuzz FuzzServerRequests` searches further (see README, Tests).
func FuzzServerRequests(f *testing.F) {
	cfg := DefaultLocalConfig()
	cfg.Name = "m"
	cfg.MaxDeadline = time.Second
	cfg.MaxQueue = 64
	cfg.Handler = HandlerFunc(func(Item) {})
	r, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = r.Shutdown() })
	s := &server{r: r}

	now := time.Now()
	for _, seed := range []struct {
		kind uint8
		msg  proto.Message
	}{
		{0, &relayv1.ScatterRequest{From: "peer", Root: "peer", BatchId: 1, Items: []*relayv1.Item{
			{RequestId: 1, Key: "ns/pod", Origin: "peer", Gatherer: "m", DeadlineUnixNano: now.Add(time.Hour).UnixNano(), Payload: []byte("x")},
			{RequestId: 2, Key: "ns/pod2", Origin: "m", Gatherer: "other", DeadlineUnixNano: now.UnixNano()},
		}}},
		{0, &relayv1.ScatterRequest{From: "", Root: "m"}},
		{1, &relayv1.ReportRequest{From: "peer", Scores: []*relayv1.Score{
			{RequestId: 1, Key: "ns/pod", Origin: "peer", Member: "peer", Node: "n", Score: 7, DeadlineUnixNano: now.Add(time.Minute).UnixNano()},
			{RequestId: 3, Key: "k", Origin: "o", Member: "peer", NoFeasibleNode: true, Reason: "r", DeadlineUnixNano: -1},
		}}},
		{2, &relayv1.DecideRequest{From: "peer", BatchId: 9, Decisions: []*relayv1.Decision{
			{RequestId: 1, Key: "ns/pod", Winner: "peer", Node: "n", Gatherer: "peer", Reports: 3},
		}}},
		{3, &relayv1.HelloRequest{Member: "peer", Meta: &relayv1.MemberMeta{ProtocolVersion: 99}}},
	} {
		b, err := proto.Marshal(seed.msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(seed.kind, false, b)
		f.Add(seed.kind, true, b)
	}

	f.Fuzz(func(t *testing.T, kind uint8, bound bool, b []byte) {
		id := identity{}
		if bound {
			id = identity{bound: true, names: []string{"peer"}}
		}
		switch kind % 4 {
		case 0:
			var req relayv1.ScatterRequest
			if proto.Unmarshal(b, &req) == nil {
				_ = s.scatter(id, &req)
			}
		case 1:
			var req relayv1.ReportRequest
			if proto.Unmarshal(b, &req) == nil {
				sink := &streamSink{ob: newOutbox[*relayv1.Verdict](0, r.cfg.maxQueue(), nil)}
				_ = s.report(id, &req, sink)
				if n := sink.ob.len(); n > r.cfg.maxQueue() {
					t.Fatalf("%d verdicts queued, limit %d", n, r.cfg.maxQueue())
				}
				sink.ob.close()
			}
		case 2:
			var req relayv1.DecideRequest
			if proto.Unmarshal(b, &req) == nil {
				if resp, err := s.decide(id, &req); err == nil && len(resp.GetAcceptedRequestIds())+len(resp.GetRejectedRequestIds()) != len(req.GetDecisions()) {
					t.Fatalf("%d decisions answered %d times", len(req.GetDecisions()), len(resp.GetAcceptedRequestIds())+len(resp.GetRejectedRequestIds()))
				}
			}
		case 3:
			var req relayv1.HelloRequest
			if proto.Unmarshal(b, &req) == nil {
				_, _ = s.Hello(context.Background(), &req)
			}
		}
	})
}
