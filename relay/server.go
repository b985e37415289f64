package relay

import (
	"context"
	"errors"
	"io"
	"time"

	relayv1 "github.com/k8s1m/k8s1m/proto/relay/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// server is the gRPC side of a member: it receives items from its parent,
// scores from reporters and decisions from gatherers.
type server struct {
	relayv1.UnimplementedScatterServiceServer
	relayv1.UnimplementedGatherServiceServer
	relayv1.UnimplementedHealthServiceServer
	r *Relay
}

// Scatter receives batches from a parent and acknowledges each one after its
// items have been queued for the children and handed to the local handler.
// Acknowledgements wait up to Config.AckDelay, so one message acknowledges
// many batches.
func (s *server) Scatter(stream relayv1.ScatterService_ScatterServer) error {
	id := streamIdentity(stream.Context())
	acks := newOutbox[uint64](s.r.cfg.AckDelay, s.r.cfg.maxQueue(), s.r.metrics.overflowAck)
	acks.patient = true
	return duplex(stream.Context(), s, acks, "acknowledgements", func(ids []uint64) error {
		s.r.metrics.sentAck.Inc()
		return stream.Send(&relayv1.ScatterResponse{BatchIds: ids})
	}, func() error {
		req, err := stream.Recv()
		if err == nil {
			err = s.scatter(id, req)
		}
		if err == nil {
			acks.push(req.GetBatchId())
		}
		return err
	})
}

// duplex serves a long-lived stream (its context streamCtx) whose answers
// are batched: ob is drained by a goroutine of its own that sends what piled
// up (send), while another goroutine receives and handles the peer's
// messages (recv, until it fails). So a peer that stops reading its answers
// is cut off even while it sends nothing: ob overflows and its kick ends the
// stream. what names the answers in that error. ob is closed on return.
func duplex[T any](streamCtx context.Context, s *server, ob *outbox[T], what string, send func([]T) error, recv func() error) error {
	ctx, cancel := context.WithCancel(streamCtx)
	defer cancel()
	ob.setKick(cancel)
	defer ob.close()
	sendErr := make(chan error, 1)
	go func() {
		for {
			batch, err := ob.take(ctx, s.r.cfg.MaxBatch)
			if err != nil {
				sendErr <- nil
				return
			}
			if err := send(batch); err != nil {
				sendErr <- err
				cancel()
				return
			}
		}
	}()
	recvErr := make(chan error, 1)
	go func() {
		for {
			if err := recv(); err != nil {
				recvErr <- err
				return
			}
		}
	}()
	select {
	case err := <-recvErr:
		cancel()
		<-sendErr
		return endOfStream(err)
	case <-ctx.Done():
		if ob.hasOverflowed() {
			// The sender may be stuck in Send to a peer that reads
			// nothing: returning ends the stream, and with it that Send.
			return status.Errorf(codes.ResourceExhausted, "more than %d %s waiting for this stream: closed", s.r.cfg.maxQueue(), what)
		}
		if err := <-sendErr; err != nil {
			return err
		}
		return ctx.Err()
	}
}

// scatter takes one batch from a parent.
func (s *server) scatter(id identity, req *relayv1.ScatterRequest) error {
	if err := id.check(s.r, "scatter from", req.GetFrom()); err != nil {
		return err
	}
	s.r.accept(req.GetRoot(), req.GetItems())
	return nil
}

// Report receives scores from one reporter and sends its verdicts back on the
// same stream, batched (see duplex).
func (s *server) Report(stream relayv1.GatherService_ReportServer) error {
	s.r.metrics.reportStreams.Inc()
	defer s.r.metrics.reportStreams.Dec()
	id := streamIdentity(stream.Context())
	sink := &streamSink{ob: newOutbox[*relayv1.Verdict](s.r.cfg.BatchDelay, s.r.cfg.maxQueue(), s.r.metrics.overflowVerdict)}
	return duplex(stream.Context(), s, sink.ob, "verdicts", func(vs []*relayv1.Verdict) error {
		s.r.metrics.sentVerdict.Inc()
		return stream.Send(&relayv1.ReportResponse{Verdicts: vs})
	}, func() error {
		req, err := stream.Recv()
		if err == nil {
			err = s.report(id, req, sink)
		}
		return err
	})
}

// report takes one batch of scores, refusing it whole if it names another
// member than its sender.
func (s *server) report(id identity, req *relayv1.ReportRequest, sink verdictSink) error {
	if err := id.check(s.r, "report from", req.GetFrom()); err != nil {
		return err
	}
	for _, sc := range req.GetScores() {
		if err := id.check(s.r, "score member", sc.GetMember()); err != nil {
			return err
		}
	}
	now := time.Now()
	for _, sc := range req.GetScores() {
		sc.DeadlineUnixNano = s.r.capDeadline(sc.GetDeadlineUnixNano(), now)
		s.r.gather.report(sc, sink)
	}
	return nil
}

// streamSink queues verdicts for one Report stream. Verdicts for a stream that
// has closed are dropped: the reporter sends its score again on its next stream.
type streamSink struct{ ob *outbox[*relayv1.Verdict] }

func (s *streamSink) sendVerdict(v *relayv1.Verdict) { s.ob.push(v) }

// Decide receives decisions for items this member submitted.
func (s *server) Decide(stream relayv1.GatherService_DecideServer) error {
	id := streamIdentity(stream.Context())
	for {
		req, err := stream.Recv()
		if err != nil {
			return endOfStream(err)
		}
		resp, err := s.decide(id, req)
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// decide takes one batch of decisions and says which stand.
func (s *server) decide(id identity, req *relayv1.DecideRequest) (*relayv1.DecideResponse, error) {
	if err := id.check(s.r, "decide from", req.GetFrom()); err != nil {
		return nil, err
	}
	for _, d := range req.GetDecisions() {
		if err := id.check(s.r, "decision gatherer", d.GetGatherer()); err != nil {
			return nil, err
		}
	}
	resp := &relayv1.DecideResponse{BatchIds: []uint64{req.GetBatchId()}}
	for _, d := range req.GetDecisions() {
		if s.r.origin.deliver(d, false) {
			resp.AcceptedRequestIds = append(resp.AcceptedRequestIds, d.GetRequestId())
		} else {
			resp.RejectedRequestIds = append(resp.RejectedRequestIds, d.GetRequestId())
		}
	}
	return resp, nil
}

// Hello tells a peer who this member is and which protocol it speaks.
func (s *server) Hello(_ context.Context, req *relayv1.HelloRequest) (*relayv1.HelloResponse, error) {
	if v := req.GetMeta().GetProtocolVersion(); v != 0 && v != protocolVersion {
		return nil, status.Errorf(codes.FailedPrecondition, "relay protocol %d not supported (this member speaks %d)", v, protocolVersion)
	}
	return &relayv1.HelloResponse{Member: s.r.self.Name, Meta: &relayv1.MemberMeta{
		Role:            s.r.self.Role.proto(),
		GrpcAddress:     s.r.self.GRPCAddr,
		ModuleVersion:   s.r.self.Version,
		ProtocolVersion: protocolVersion,
	}}, nil
}

// endOfStream turns the client's orderly close into a clean return.
func endOfStream(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
