package server_test

import (
	"context"
	"testing"

	"github.com/k8s1m/k8s1m/memetcd/memetcdtest"
	"github.com/k8s1m/k8s1m/memetcd/server"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// FuzzRequests feeds decoded requests of every unary KV and Lease call to the
// gRPC handlers of a live server, as a client's bytes would arrive: nothing
// may panic, and what the calls can make the server keep is bounded by its
// limits (a 1 MiB quota here: a success never leaves the store above it).
// `go test` runs the seeds; `go test -fuzz FuzzRequests ./server` searches
// further (see BENCHMARKS.md).
func FuzzRequests(f *testing.F) {
	const quota = 1 << 20
	in := memetcdtest.Start(f, memetcdtest.Options{Server: server.Config{QuotaBackendBytes: quota}})
	s := in.Server
	for _, seed := range []struct {
		kind uint8
		msg  proto.Message
	}{
		{0, &pb.RangeRequest{Key: []byte("/registry/pods/"), RangeEnd: []byte("/registry/pods0"), Limit: 10, SortOrder: pb.RangeRequest_DESCEND, SortTarget: pb.RangeRequest_MOD}},
		{0, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: -5, CountOnly: true}},
		{1, &pb.PutRequest{Key: []byte("/registry/pods/ns/a"), Value: []byte("v"), PrevKv: true}},
		{2, &pb.DeleteRangeRequest{Key: []byte("/registry/"), RangeEnd: []byte("/registry0"), PrevKv: true}},
		{3, &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: []byte("/a"), Target: pb.Compare_MOD, Result: pb.Compare_LESS, TargetUnion: &pb.Compare_ModRevision{ModRevision: 9}}},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("/a"), Value: []byte("1")}}}},
			Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{
				Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("/a")}}}},
			}}}},
		}},
		{4, &pb.CompactionRequest{Revision: 3}},
		{5, &pb.LeaseGrantRequest{TTL: 60, ID: 7}},
		{6, &pb.LeaseRevokeRequest{ID: 7}},
		{7, &pb.LeaseTimeToLiveRequest{ID: 7, Keys: true}},
	} {
		b, err := proto.Marshal(seed.msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(seed.kind, b)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		var err error
		switch kind % 8 {
		case 0:
			var r pb.RangeRequest
			if proto.Unmarshal(b, &r) == nil {
				_, err = s.Range(ctx, &r)
			}
		case 1:
			var r pb.PutRequest
			if proto.Unmarshal(b, &r) == nil {
				_, err = s.Put(ctx, &r)
			}
		case 2:
			var r pb.DeleteRangeRequest
			if proto.Unmarshal(b, &r) == nil {
				_, err = s.DeleteRange(ctx, &r)
			}
		case 3:
			var r pb.TxnRequest
			if proto.Unmarshal(b, &r) == nil {
				_, err = s.Txn(ctx, &r)
			}
		case 4:
			var r pb.CompactionRequest
			if proto.Unmarshal(b, &r) == nil {
				_, err = s.Compact(ctx, &r)
			}
		case 5:
			var r pb.LeaseGrantRequest
			if proto.Unmarshal(b, &r) == nil {
				_, err = s.LeaseGrant(ctx, &r)
			}
		case 6:
			var r pb.LeaseRevokeRequest
			if proto.Unmarshal(b, &r) == nil {
				_, err = s.LeaseRevoke(ctx, &r)
			}
		case 7:
			var r pb.LeaseTimeToLiveRequest
			if proto.Unmarshal(b, &r) == nil {
				_, err = s.LeaseTimeToLive(ctx, &r)
			}
		}
		if st := in.Store.Stats(); err == nil && st.Bytes > quota {
			t.Fatalf("a request succeeded and left the store at %d bytes, over the %d quota", st.Bytes, quota)
		}
	})
}
