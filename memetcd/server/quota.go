package server

import (
	"context"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The storage quota as etcd keeps it (--quota-backend-bytes): a write that
// would take the store past the quota raises the NOSPACE alarm and fails;
// while the alarm is raised every write that adds data fails the same way
// (etcd's "capped" applier), whatever its size, so an operator notices and
// makes room (delete, compact) before disarming it with Maintenance.Alarm
// (etcdctl alarm disarm). Reads, deletes and compaction always work.
// memetcd's size is the live key and value bytes (etcd_mvcc_db_total_size_in_bytes).

// checkQuota refuses a write adding cost bytes when the alarm is raised or
// the write would pass the quota (raising the alarm).
func (s *Server) checkQuota(cost int64) error {
	if s.cfg.QuotaBackendBytes < 0 || cost == 0 {
		return nil
	}
	if s.nospace.Load() {
		return rpctypes.ErrGRPCNoSpace
	}
	if s.store.Stats().Bytes+cost > s.cfg.QuotaBackendBytes {
		if s.nospace.CompareAndSwap(false, true) {
			s.metrics.nospace.Inc()
			s.cfg.Log.Warn().Int64("quota", s.cfg.QuotaBackendBytes).Msg("NOSPACE alarm raised: writes that add data are refused until it is disarmed (etcdctl alarm disarm)")
		}
		return rpctypes.ErrGRPCNoSpace
	}
	return nil
}

// leaseCost is what a lease counts against the quota: etcd charges a lease
// too, so a client cannot grant leases without bound while the store is full.
const leaseCost = 64

func putCost(r *pb.PutRequest) int64 { return int64(len(r.Key) + len(r.Value)) }

// txnCost is the larger of its branches' puts, nested transactions included
// (one branch runs).
func txnCost(r *pb.TxnRequest) int64 {
	branch := func(ops []*pb.RequestOp) int64 {
		var c int64
		for _, op := range ops {
			switch v := op.Request.(type) {
			case *pb.RequestOp_RequestPut:
				c += putCost(v.RequestPut)
			case *pb.RequestOp_RequestTxn:
				c += txnCost(v.RequestTxn)
			}
		}
		return c
	}
	return max(branch(r.Success), branch(r.Failure))
}

// Alarm implements Maintenance.Alarm: GET lists the raised alarms (NOSPACE is
// the only one memetcd raises), ACTIVATE raises one, DEACTIVATE disarms it.
// The response lists the alarms the request touched, as etcd's does.
func (s *Server) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	resp := &pb.AlarmResponse{Header: s.header(s.store.Rev())}
	nospace := &pb.AlarmMember{MemberID: MemberID, Alarm: pb.AlarmType_NOSPACE}
	switch r.Action {
	case pb.AlarmRequest_GET:
		if s.nospace.Load() && (r.Alarm == pb.AlarmType_NONE || r.Alarm == pb.AlarmType_NOSPACE) {
			resp.Alarms = []*pb.AlarmMember{nospace}
		}
	case pb.AlarmRequest_ACTIVATE:
		if r.Alarm == pb.AlarmType_NOSPACE && s.nospace.CompareAndSwap(false, true) {
			s.metrics.nospace.Inc()
			resp.Alarms = []*pb.AlarmMember{nospace}
		}
	case pb.AlarmRequest_DEACTIVATE:
		if r.Alarm == pb.AlarmType_NOSPACE && s.nospace.CompareAndSwap(true, false) {
			s.cfg.Log.Info().Msg("NOSPACE alarm disarmed")
			resp.Alarms = []*pb.AlarmMember{nospace}
		}
	default:
		return nil, status.Errorf(codes.InvalidArgument, "alarm action %v is not GET, ACTIVATE or DEACTIVATE", r.Action)
	}
	return resp, nil
}

// alarmErrors are the Status errors etcd reports for raised alarms.
func (s *Server) alarmErrors() []string {
	if s.nospace.Load() {
		return []string{fmt.Sprintf("memberID:%d alarm:NOSPACE ", MemberID)}
	}
	return nil
}
