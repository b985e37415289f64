package grpcmetrics

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestCountsCallsAndMessages serves gRPC's health service on loopback and
// checks the series a unary call, a failed unary call and a server stream
// leave, under go-grpc-middleware's names and labels.
func TestCountsCallsAndMessages(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, []float64{.001, 1})
	g := grpc.NewServer(grpc.ChainUnaryInterceptor(m.Unary()), grpc.ChainStreamInterceptor(m.Stream()))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	m.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)

	// Registered methods are exported before any call.
	if got := testutil.ToFloat64(m.started.WithLabelValues("unary", "grpc.health.v1.Health", "Check")); got != 0 {
		t.Fatalf("started before a call = %v", got)
	}
	if n := testutil.CollectAndCount(m.handled); n < 2 {
		t.Fatalf("handled series before a call: %d, want one per registered method", n)
	}

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := healthpb.NewHealthClient(conn)
	ctx := t.Context()
	if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: "absent"}); status.Code(err) != codes.NotFound {
		t.Fatalf("check of an unknown service: %v, want NotFound", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	w, err := c.Watch(wctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatal(err)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if _, err := w.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	for _, err := w.Recv(); err == nil; _, err = w.Recv() {
	}
	g.GracefulStop() // every handler has returned: the stream's handled count is in

	want := `
# HELP grpc_server_handled_total Total number of RPCs completed on the server, regardless of success or failure.
# TYPE grpc_server_handled_total counter
grpc_server_handled_total{grpc_code="Canceled",grpc_method="Watch",grpc_service="grpc.health.v1.Health",grpc_type="server_stream"} 1
grpc_server_handled_total{grpc_code="NotFound",grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary"} 1
grpc_server_handled_total{grpc_code="OK",grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary"} 1
grpc_server_handled_total{grpc_code="OK",grpc_method="List",grpc_service="grpc.health.v1.Health",grpc_type="unary"} 0
grpc_server_handled_total{grpc_code="OK",grpc_method="Watch",grpc_service="grpc.health.v1.Health",grpc_type="server_stream"} 0
# HELP grpc_server_msg_sent_total Total number of gRPC stream messages sent by the server.
# TYPE grpc_server_msg_sent_total counter
grpc_server_msg_sent_total{grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary"} 1
grpc_server_msg_sent_total{grpc_method="List",grpc_service="grpc.health.v1.Health",grpc_type="unary"} 0
grpc_server_msg_sent_total{grpc_method="Watch",grpc_service="grpc.health.v1.Health",grpc_type="server_stream"} 2
# HELP grpc_server_started_total Total number of RPCs started on the server.
# TYPE grpc_server_started_total counter
grpc_server_started_total{grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary"} 2
grpc_server_started_total{grpc_method="List",grpc_service="grpc.health.v1.Health",grpc_type="unary"} 0
grpc_server_started_total{grpc_method="Watch",grpc_service="grpc.health.v1.Health",grpc_type="server_stream"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "grpc_server_handled_total", "grpc_server_msg_sent_total", "grpc_server_started_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.seconds); n != 3 {
		t.Fatalf("handling-time series: %d, want one per method", n)
	}
}

func TestTypeAndSplit(t *testing.T) {
	for _, tt := range []struct {
		client, server bool
		want           string
	}{{false, false, "unary"}, {true, false, "client_stream"}, {false, true, "server_stream"}, {true, true, "bidi_stream"}} {
		if got := typeOf(tt.client, tt.server); got != tt.want {
			t.Errorf("typeOf(%v, %v) = %s, want %s", tt.client, tt.server, got, tt.want)
		}
	}
	if s, m := split("/etcdserverpb.KV/Range"); s != "etcdserverpb.KV" || m != "Range" {
		t.Errorf("split = %s, %s", s, m)
	}
}
