package server

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Status implements Maintenance.Status for a single member that is its own
// leader. RaftIndex and RaftAppliedIndex are the revision: the one counter
// that orders every change here.
func (s *Server) Status(ctx context.Context, r *pb.StatusRequest) (*pb.StatusResponse, error) {
	st := s.store.Stats()
	if err := s.durable(ctx, st.Rev); err != nil {
		return nil, err
	}
	resp := &pb.StatusResponse{
		Header:           s.header(st.Rev),
		Version:          Version,
		DbSize:           st.Bytes,
		DbSizeInUse:      st.Bytes,
		Leader:           MemberID,
		RaftIndex:        uint64(st.Rev),
		RaftTerm:         1,
		RaftAppliedIndex: uint64(st.Rev),
		StorageVersion:   "3.7.0",
	}
	resp.Errors = s.alarmErrors()
	if st.ReadOnly {
		resp.Errors = append(resp.Errors, "memetcd: store is read-only after a journal failure")
	}
	return resp, nil
}

// MemberList implements Cluster.MemberList: this member alone.
func (s *Server) MemberList(ctx context.Context, r *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	return &pb.MemberListResponse{
		Header:  s.header(s.store.Rev()),
		Members: []*pb.Member{{ID: MemberID, Name: s.cfg.Name, ClientURLs: s.cfg.ClientURLs}},
	}, nil
}
