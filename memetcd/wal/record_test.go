package wal

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/k8s1m/k8s1m/memetcd/store"
)

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
	}{
		{"put", Record{Seq: 1, Revision: 2, Ops: []store.Op{{Type: store.OpPut, Key: []byte("/k"), Value: []byte("v"), LeaseID: 7}}}},
		{"txn", Record{Seq: 1 << 40, Revision: 1 << 50, Ops: []store.Op{
			{Type: store.OpPut, Key: []byte("/a"), Value: bytes.Repeat([]byte("x"), 300)},
			{Type: store.OpDelete, Key: []byte("/b")},
			{Type: store.OpPut, Key: []byte("/c")},
		}}},
		{"lease grant", Record{Seq: 3, Revision: 9, Ops: []store.Op{{Type: store.OpLeaseGrant, LeaseID: -1, TTL: 3600}}}},
		{"revoke with deletes", Record{Seq: 4, Revision: 10, Ops: []store.Op{
			{Type: store.OpLeaseRevoke, LeaseID: 5}, {Type: store.OpDelete, Key: []byte("/x")}}}},
		{"compact", Record{Seq: 5, Revision: 10, Ops: []store.Op{{Type: store.OpCompact, Revision: 8}}}},
		{"no ops", Record{Seq: 6, Revision: 11}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := appendFrame(nil, &tt.rec)
			if len(frame) != frameHeaderSize+payloadSize(&tt.rec) {
				t.Fatalf("frame %d bytes, header+payloadSize %d", len(frame), frameHeaderSize+payloadSize(&tt.rec))
			}
			d := newDecoder(bytes.NewReader(frame), "t", int64(len(frame)))
			got, off, err := d.next()
			if err != nil || off != 0 {
				t.Fatalf("decode: off %d err %v", off, err)
			}
			want := tt.rec
			if want.Ops == nil {
				want.Ops = []store.Op{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}
