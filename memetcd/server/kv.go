package server

import (
	"bytes"
	"context"

	"github.com/k8s1m/k8s1m/memetcd/keys"
	"github.com/k8s1m/k8s1m/memetcd/store"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// maxTxnOps is etcd's default --max-txn-ops.
const maxTxnOps = 128

// Range implements KV.Range.
func (s *Server) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := checkRange(r); err != nil {
		return nil, err
	}
	res, err := s.store.Range(rangeRequest(r))
	if err != nil {
		return nil, toGRPC(err)
	}
	if err := s.durable(ctx, res.Rev); err != nil {
		return nil, err
	}
	return s.rangeResponse(res), nil
}

// Put implements KV.Put.
func (s *Server) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	if err := s.checkPut(r); err != nil {
		return nil, err
	}
	if err := s.checkSize(r); err != nil {
		return nil, err
	}
	if err := s.checkQuota(putCost(r)); err != nil {
		return nil, err
	}
	s.hub.beginWrite()
	res, w, err := s.store.Put(putRequest(r))
	s.hub.endWrite()
	if err != nil {
		return nil, toGRPC(err)
	}
	if err := s.reply(ctx, w, res.Rev); err != nil {
		return nil, err
	}
	return &pb.PutResponse{Header: s.header(res.Rev), PrevKv: kvPtr(res.PrevKV)}, nil
}

// DeleteRange implements KV.DeleteRange.
func (s *Server) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if len(r.Key) == 0 {
		return nil, rpctypes.ErrGRPCEmptyKey
	}
	if err := s.checkSize(r); err != nil {
		return nil, err
	}
	s.hub.beginWrite()
	res, w, err := s.store.DeleteRange(deleteRequest(r))
	s.hub.endWrite()
	if err != nil {
		return nil, toGRPC(err)
	}
	if err := s.reply(ctx, w, res.Rev); err != nil {
		return nil, err
	}
	return s.deleteResponse(res), nil
}

// Txn implements KV.Txn.
func (s *Server) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := s.checkTxn(r); err != nil {
		return nil, err
	}
	if err := s.checkSize(r); err != nil {
		return nil, err
	}
	if err := s.checkQuota(txnCost(r)); err != nil {
		return nil, err
	}
	s.hub.beginWrite()
	res, w, err := s.store.Txn(txnRequest(r))
	s.hub.endWrite()
	if err != nil {
		return nil, toGRPC(err)
	}
	if err := s.reply(ctx, w, res.Rev); err != nil {
		return nil, err
	}
	return s.txnResponse(res), nil
}

// Compact implements KV.Compact. Compaction is done before replying, so the
// physical flag needs no extra wait.
func (s *Server) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	w, err := s.store.Compact(r.Revision)
	if err != nil {
		return nil, toGRPC(err)
	}
	rev := s.store.Rev()
	if err := s.reply(ctx, w, rev); err != nil {
		return nil, err
	}
	return &pb.CompactionResponse{Header: s.header(rev)}, nil
}

func (s *Server) checkSize(m proto.Message) error {
	if proto.Size(m) > s.cfg.MaxRequestBytes {
		return rpctypes.ErrGRPCRequestTooLarge
	}
	return nil
}

func checkRange(r *pb.RangeRequest) error {
	if len(r.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.SortOrder)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.SortTarget)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	return nil
}

func (s *Server) checkPut(r *pb.PutRequest) error {
	if len(r.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if r.IgnoreValue && len(r.Value) != 0 {
		return rpctypes.ErrGRPCValueProvided
	}
	if r.IgnoreLease && r.Lease != 0 {
		return rpctypes.ErrGRPCLeaseProvided
	}
	return nil
}

func (s *Server) checkTxn(r *pb.TxnRequest) error {
	if len(r.Compare) > maxTxnOps || len(r.Success) > maxTxnOps || len(r.Failure) > maxTxnOps {
		return rpctypes.ErrGRPCTooManyOps
	}
	for _, c := range r.Compare {
		if len(c.Key) == 0 {
			return rpctypes.ErrGRPCEmptyKey
		}
	}
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			if err := s.checkOp(op); err != nil {
				return err
			}
		}
		if err := checkOverlaps(ops); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) checkOp(op *pb.RequestOp) error {
	switch v := op.Request.(type) {
	case *pb.RequestOp_RequestRange:
		return checkRange(v.RequestRange)
	case *pb.RequestOp_RequestPut:
		return s.checkPut(v.RequestPut)
	case *pb.RequestOp_RequestDeleteRange:
		if len(v.RequestDeleteRange.Key) == 0 {
			return rpctypes.ErrGRPCEmptyKey
		}
		return nil
	case *pb.RequestOp_RequestTxn:
		return s.checkTxn(v.RequestTxn)
	}
	return status.Error(codes.InvalidArgument, "memetcd: empty request op in txn")
}

// checkOverlaps refuses what etcd refuses: one key put twice in a branch, or
// put and deleted in it (each key changes at most once per revision).
func checkOverlaps(ops []*pb.RequestOp) error {
	var puts [][]byte
	var dels []keys.Request
	for _, op := range ops {
		switch v := op.Request.(type) {
		case *pb.RequestOp_RequestPut:
			puts = append(puts, v.RequestPut.Key)
		case *pb.RequestOp_RequestDeleteRange:
			dels = append(dels, keys.Parse(v.RequestDeleteRange.Key, v.RequestDeleteRange.RangeEnd))
		}
	}
	for i := range puts {
		for j := i + 1; j < len(puts); j++ {
			if bytes.Equal(puts[i], puts[j]) {
				return rpctypes.ErrGRPCDuplicateKey
			}
		}
		for _, d := range dels {
			if d.Contains(puts[i]) {
				return rpctypes.ErrGRPCDuplicateKey
			}
		}
	}
	return nil
}

// Translation between the wire types and the store's.

func endOrNil(end []byte) []byte {
	if len(end) == 0 {
		return nil
	}
	return end
}

func rangeRequest(r *pb.RangeRequest) *store.RangeRequest {
	return &store.RangeRequest{
		Key: r.Key, End: endOrNil(r.RangeEnd), Rev: r.Revision, Limit: r.Limit,
		CountOnly: r.CountOnly, KeysOnly: r.KeysOnly,
		SortOrder: store.SortOrder(r.SortOrder), SortTarget: store.SortTarget(r.SortTarget),
		MinModRev: r.MinModRevision, MaxModRev: r.MaxModRevision,
		MinCreateRev: r.MinCreateRevision, MaxCreateRev: r.MaxCreateRevision,
	}
}

func putRequest(r *pb.PutRequest) *store.PutRequest {
	return &store.PutRequest{Key: r.Key, Value: r.Value, Lease: r.Lease, PrevKV: r.PrevKv, IgnoreValue: r.IgnoreValue, IgnoreLease: r.IgnoreLease}
}

func deleteRequest(r *pb.DeleteRangeRequest) *store.DeleteRequest {
	return &store.DeleteRequest{Key: r.Key, End: endOrNil(r.RangeEnd), PrevKV: r.PrevKv}
}

func txnRequest(r *pb.TxnRequest) *store.TxnRequest {
	t := &store.TxnRequest{Compare: make([]store.Compare, len(r.Compare))}
	for i, c := range r.Compare {
		sc := store.Compare{Key: c.Key, End: endOrNil(c.RangeEnd), Target: store.CompareTarget(c.Target), Result: store.CompareResult(c.Result)}
		switch v := c.TargetUnion.(type) {
		case *pb.Compare_Version:
			sc.Int = v.Version
		case *pb.Compare_CreateRevision:
			sc.Int = v.CreateRevision
		case *pb.Compare_ModRevision:
			sc.Int = v.ModRevision
		case *pb.Compare_Lease:
			sc.Int = v.Lease
		case *pb.Compare_Value:
			sc.Value = v.Value
		}
		t.Compare[i] = sc
	}
	t.Success = txnOps(r.Success)
	t.Failure = txnOps(r.Failure)
	return t
}

func txnOps(ops []*pb.RequestOp) []store.TxnOp {
	out := make([]store.TxnOp, len(ops))
	for i, op := range ops {
		switch v := op.Request.(type) {
		case *pb.RequestOp_RequestRange:
			out[i].Range = rangeRequest(v.RequestRange)
		case *pb.RequestOp_RequestPut:
			out[i].Put = putRequest(v.RequestPut)
		case *pb.RequestOp_RequestDeleteRange:
			out[i].Delete = deleteRequest(v.RequestDeleteRange)
		case *pb.RequestOp_RequestTxn:
			out[i].Txn = txnRequest(v.RequestTxn)
		}
	}
	return out
}

func kvPB(kv store.KeyValue) *mvccpb.KeyValue {
	return &mvccpb.KeyValue{Key: kv.Key, Value: kv.Value, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision, Version: kv.Version, Lease: kv.Lease}
}

func kvPtr(kv *store.KeyValue) *mvccpb.KeyValue {
	if kv == nil {
		return nil
	}
	return kvPB(*kv)
}

func kvsPB(kvs []store.KeyValue) []*mvccpb.KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]*mvccpb.KeyValue, len(kvs))
	for i := range kvs {
		out[i] = kvPB(kvs[i])
	}
	return out
}

func (s *Server) rangeResponse(r *store.RangeResult) *pb.RangeResponse {
	return &pb.RangeResponse{Header: s.header(r.Rev), Kvs: kvsPB(r.KVs), More: r.More, Count: r.Count}
}

func (s *Server) deleteResponse(r *store.DeleteResult) *pb.DeleteRangeResponse {
	return &pb.DeleteRangeResponse{Header: s.header(r.Rev), Deleted: r.Deleted, PrevKvs: kvsPB(r.PrevKVs)}
}

func (s *Server) txnResponse(r *store.TxnResult) *pb.TxnResponse {
	out := &pb.TxnResponse{Header: s.header(r.Rev), Succeeded: r.Succeeded, Responses: make([]*pb.ResponseOp, len(r.Results))}
	for i, op := range r.Results {
		switch {
		case op.Range != nil:
			out.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: s.rangeResponse(op.Range)}}
		case op.Put != nil:
			out.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: &pb.PutResponse{Header: s.header(op.Put.Rev), PrevKv: kvPtr(op.Put.PrevKV)}}}
		case op.Delete != nil:
			out.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: s.deleteResponse(op.Delete)}}
		case op.Txn != nil:
			out.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: s.txnResponse(op.Txn)}}
		}
	}
	return out
}
