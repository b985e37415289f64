package server

import (
	"bytes"

	"github.com/k8s1m/k8s1m/memetcd/store"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Chunk sizing as etcd 3.7 does it: start small, then double or halve the
// key count so each chunk lands near MaxRequestBytes.
const initialStreamChunk = 10

// RangeStream implements etcd 3.7's KV.RangeStream: the range is read at one
// revision (pinned at the start) in bounded chunks, so neither side holds the
// whole result. Only the last chunk carries header, more and count.
func (s *Server) RangeStream(r *pb.RangeRequest, stream pb.KV_RangeStreamServer) error {
	if err := checkRange(r); err != nil {
		return err
	}
	if r.SortTarget != pb.RangeRequest_KEY || r.SortOrder == pb.RangeRequest_DESCEND {
		return status.Error(codes.Unimplemented, "RangeStream does not support custom sort orders")
	}
	if r.MinModRevision != 0 || r.MaxModRevision != 0 || r.MinCreateRevision != 0 || r.MaxCreateRevision != 0 {
		return status.Error(codes.Unimplemented, "RangeStream does not support revision filters")
	}
	req := rangeRequest(r)
	if r.CountOnly || req.End == nil {
		res, err := s.store.Range(req)
		if err != nil {
			return toGRPC(err)
		}
		if err := s.durable(stream.Context(), res.Rev); err != nil {
			return err
		}
		return stream.Send(&pb.RangeStreamResponse{RangeResponse: s.rangeResponse(res)})
	}
	total := r.Limit
	if total <= 0 {
		total = 1<<63 - 1
	}
	req.Limit = min(initialStreamChunk, total)
	req.SkipCount = true
	var headerRev, sent int64
	for {
		res, err := s.store.Range(req)
		if err != nil {
			return toGRPC(err)
		}
		if headerRev == 0 {
			// Pin every later chunk to the revision of the first one. A
			// negative revision means latest, as 0 does (etcd's rule): it
			// must be pinned too, or each chunk read a later revision.
			headerRev = res.Rev
			if req.Rev <= 0 {
				req.Rev = headerRev
			}
			// Every chunk reads at headerRev or below: one wait covers all.
			if err := s.durable(stream.Context(), headerRev); err != nil {
				return err
			}
		}
		sent += int64(len(res.KVs))
		out := &pb.RangeResponse{Kvs: kvsPB(res.KVs)}
		more := res.More
		done := !more || sent >= total
		if done {
			out.Header = s.header(headerRev)
			out.More = more
			out.Count = sent
			if more {
				// Stopped by the caller's limit: count the rest at the pinned revision.
				rest, err := s.store.Range(&store.RangeRequest{Key: nextKey(res.KVs), End: req.End, Rev: req.Rev, CountOnly: true})
				if err != nil {
					return toGRPC(err)
				}
				out.Count += rest.Count
			}
		}
		if err := stream.Send(&pb.RangeStreamResponse{RangeResponse: out}); err != nil {
			return err
		}
		if done {
			return nil
		}
		req.Key = nextKey(res.KVs)
		size := proto.Size(out)
		switch {
		case size < s.cfg.MaxRequestBytes/2:
			req.Limit *= 2
		case size > s.cfg.MaxRequestBytes*2:
			req.Limit /= 2
		}
		req.Limit = max(1, min(req.Limit, total-sent))
	}
}

// nextKey is the smallest key after the last one read.
func nextKey(kvs []store.KeyValue) []byte {
	return append(bytes.Clone(kvs[len(kvs)-1].Key), 0)
}
