package server

import (
	"context"
	"errors"
	"io"

	"github.com/k8s1m/k8s1m/memetcd/store"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// LeaseGrant implements Lease.LeaseGrant.
func (s *Server) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	if r.ID < 0 {
		return nil, rpctypes.ErrGRPCLeaseNotFound // etcd refuses negative IDs the same way
	}
	if err := s.checkQuota(leaseCost); err != nil {
		return nil, err
	}
	l, w, err := s.store.Grant(r.ID, r.TTL)
	if err != nil {
		return nil, toGRPC(err)
	}
	rev := s.store.Rev()
	if err := s.reply(ctx, w, rev); err != nil {
		return nil, err
	}
	return &pb.LeaseGrantResponse{Header: s.header(rev), ID: l.ID, TTL: l.TTL}, nil
}

// LeaseRevoke implements Lease.LeaseRevoke: the lease's keys are deleted as
// one revision.
func (s *Server) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	s.hub.beginWrite()
	rev, w, err := s.store.Revoke(r.ID)
	s.hub.endWrite()
	if err != nil {
		return nil, toGRPC(err)
	}
	if err := s.reply(ctx, w, rev); err != nil {
		return nil, err
	}
	return &pb.LeaseRevokeResponse{Header: s.header(rev)}, nil
}

// LeaseKeepAlive implements the keep-alive stream. An unknown lease gets TTL
// 0, which clients read as "expired", as from etcd.
func (s *Server) LeaseKeepAlive(stream pb.Lease_LeaseKeepAliveServer) error {
	type recv struct {
		req *pb.LeaseKeepAliveRequest
		err error
	}
	reqs := make(chan recv)
	go func() {
		for {
			req, err := stream.Recv()
			select {
			case reqs <- recv{req, err}:
			case <-stream.Context().Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		var rv recv
		select {
		case <-s.stopc:
			return rpctypes.ErrGRPCStopped
		case <-stream.Context().Done():
			return stream.Context().Err()
		case rv = <-reqs:
		}
		if errors.Is(rv.err, io.EOF) {
			return nil
		}
		if rv.err != nil {
			return rv.err
		}
		ttl, err := s.store.KeepAlive(rv.req.ID)
		if errors.Is(err, store.ErrLeaseNotFound) {
			ttl, err = 0, nil
		}
		if err != nil {
			return toGRPC(err)
		}
		rev := s.store.Rev() // at or after the grant's record
		if err := s.durable(stream.Context(), rev); err != nil {
			return err
		}
		if err := stream.Send(&pb.LeaseKeepAliveResponse{Header: s.header(rev), ID: rv.req.ID, TTL: ttl}); err != nil {
			return err
		}
	}
}

// LeaseTimeToLive implements Lease.LeaseTimeToLive; an unknown lease has TTL -1.
func (s *Server) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	info, err := s.store.TimeToLive(r.ID, r.Keys)
	rev := s.store.Rev() // at or after every lease record the answer reflects
	if werr := s.durable(ctx, rev); werr != nil {
		return nil, werr
	}
	if errors.Is(err, store.ErrLeaseNotFound) {
		return &pb.LeaseTimeToLiveResponse{Header: s.header(rev), ID: r.ID, TTL: -1}, nil
	}
	if err != nil {
		return nil, toGRPC(err)
	}
	return &pb.LeaseTimeToLiveResponse{Header: s.header(rev), ID: info.ID, TTL: info.RemainingTTL, GrantedTTL: info.GrantedTTL, Keys: info.Keys}, nil
}

// LeaseLeases implements Lease.LeaseLeases.
func (s *Server) LeaseLeases(ctx context.Context, r *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	ls := s.store.Leases()
	rev := s.store.Rev()
	if err := s.durable(ctx, rev); err != nil {
		return nil, err
	}
	out := &pb.LeaseLeasesResponse{Header: s.header(rev), Leases: make([]*pb.LeaseStatus, len(ls))}
	for i, l := range ls {
		out.Leases[i] = &pb.LeaseStatus{ID: l.ID}
	}
	return out, nil
}
