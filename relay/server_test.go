package relay

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	relayv1 "github.com/k8s1m/k8s1m/proto/relay/v1"
)

// TestScatterAcksCoalesced: a parent sends batches one after another; the
// member acknowledges them together, in one message once MaxBatch of them wait
// (AckDelay is far longer than the test), every batch exactly once, and only
// after their items reached the handler.
func TestScatterAcksCoalesced(t *testing.T) {
	const batches = 5
	handled := make(chan string, batches)
	r, conn := startAlone(t, func(cfg *Config) {
		cfg.MaxBatch = batches
		cfg.AckDelay = time.Hour
		cfg.Handler = HandlerFunc(func(it Item) { handled <- it.Key })
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := relayv1.NewScatterServiceClient(conn).Scatter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(batches) {
		scatterOne(t, s, i+1)
	}
	resp, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	ids := resp.GetBatchIds()
	slices.Sort(ids)
	if want := []uint64{1, 2, 3, 4, 5}; !slices.Equal(ids, want) {
		t.Fatalf("first acknowledgement carries batches %v, want %v", ids, want)
	}
	if n := len(handled); n != batches {
		t.Fatalf("%d items handled when their batches were acknowledged, want %d", n, batches)
	}
	if n := testutil.ToFloat64(r.metrics.sentAck); n != 1 {
		t.Fatalf("relay_link_sent_messages_total{stream=scatter_ack} = %v, want 1", n)
	}
}

// TestScatterAckAlone: with no AckDelay every batch is acknowledged by itself.
func TestScatterAckAlone(t *testing.T) {
	_, conn := startAlone(t, func(cfg *Config) { cfg.AckDelay = 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := relayv1.NewScatterServiceClient(conn).Scatter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(3) {
		scatterOne(t, s, i+1)
		resp, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.GetBatchIds(); !slices.Equal(got, []uint64{i + 1}) {
			t.Fatalf("acknowledgement %v, want [%d]", got, i+1)
		}
	}
}

// scatterOne sends batch id with one item of its own, due in a minute.
func scatterOne(t *testing.T, s relayv1.ScatterService_ScatterClient, id uint64) {
	t.Helper()
	if err := s.Send(&relayv1.ScatterRequest{From: "peer", Root: "peer", BatchId: id, Items: []*relayv1.Item{
		{RequestId: id, Key: fmt.Sprintf("pod-%d", id), Origin: "peer", Gatherer: "peer", DeadlineUnixNano: time.Now().Add(time.Minute).UnixNano()},
	}}); err != nil {
		t.Fatal(err)
	}
}
