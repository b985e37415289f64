package bulk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("obj-%d", i)
	}
	return out
}

var nodesGR = schema.GroupResource{Resource: "nodes"}

// fast keeps retry backoff tiny so tests do not wait on it.
var fast = Config{Concurrency: 8, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, RetryFor: time.Minute}

func TestRunOutcomes(t *testing.T) {
	tests := []struct {
		name        string
		n, already  int
		op          func(calls *sync.Map, i int) (Outcome, error)
		wantDone    int64
		wantAlready int64
		wantFailed  int64
		wantRetries bool
		wantErrName string
	}{
		{
			name: "all created", n: 100,
			op:       func(*sync.Map, int) (Outcome, error) { return Changed, nil },
			wantDone: 100,
		},
		{
			name: "found done before and during the run", n: 10, already: 5,
			op: func(_ *sync.Map, i int) (Outcome, error) {
				if i%2 == 0 {
					return Already, nil
				}
				return Changed, nil
			},
			wantDone: 5, wantAlready: 10,
		},
		{
			name: "throttling, timeouts and refused connections are retried", n: 30,
			op: func(calls *sync.Map, i int) (Outcome, error) {
				c, _ := calls.LoadOrStore(i, new(atomic.Int32))
				switch c.(*atomic.Int32).Add(1) {
				case 1:
					return 0, apierrors.NewTooManyRequests("slow down", 0)
				case 2:
					return 0, apierrors.NewServerTimeout(nodesGR, "create", 0)
				case 3:
					return 0, fmt.Errorf("dial: %w", syscall.ECONNREFUSED)
				}
				return Changed, nil
			},
			wantDone: 30, wantRetries: true,
		},
		{
			name: "permanent errors are counted with the object name", n: 10,
			op: func(_ *sync.Map, i int) (Outcome, error) {
				if i == 7 {
					return 0, apierrors.NewInvalid(schema.GroupKind{Kind: "Node"}, "obj-7", nil)
				}
				return Changed, nil
			},
			wantDone: 9, wantFailed: 1, wantErrName: "obj-7",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls sync.Map
			res := Run(context.Background(), zerolog.Nop(), fast, names(tt.n), tt.already,
				func(_ context.Context, _, i int) (Outcome, error) { return tt.op(&calls, i) }, nil)
			if res.Done != tt.wantDone || res.Already != tt.wantAlready || res.Failed != tt.wantFailed {
				t.Fatalf("done/already/failed = %d/%d/%d, want %d/%d/%d", res.Done, res.Already, res.Failed,
					tt.wantDone, tt.wantAlready, tt.wantFailed)
			}
			if res.Total != int64(tt.n+tt.already) || res.Interrupted {
				t.Fatalf("total %d interrupted %v", res.Total, res.Interrupted)
			}
			if tt.wantRetries != (res.Retries > 0) {
				t.Fatalf("retries = %d", res.Retries)
			}
			if tt.wantErrName == "" {
				if err := res.Err(); err != nil {
					t.Fatalf("Err() = %v", err)
				}
				return
			}
			if len(res.Errors) != 1 || res.Errors[0].Name != tt.wantErrName || !strings.Contains(res.Err().Error(), tt.wantErrName) {
				t.Fatalf("errors = %v, Err() = %v", res.Errors, res.Err())
			}
		})
	}
}

func TestRunRespectsConcurrency(t *testing.T) {
	var inFlight, peak atomic.Int32
	cfg := fast
	cfg.Concurrency = 4
	res := Run(context.Background(), zerolog.Nop(), cfg, names(200), 0, func(context.Context, int, int) (Outcome, error) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(100 * time.Microsecond) // widen the window in which calls overlap
		inFlight.Add(-1)
		return Changed, nil
	}, nil)
	if res.Done != 200 || peak.Load() > 4 {
		t.Fatalf("done %d, peak in flight %d (limit 4)", res.Done, peak.Load())
	}
}

func TestRunGivesUpAfterRetryFor(t *testing.T) {
	cfg := fast
	cfg.RetryFor = 20 * time.Millisecond
	res := Run(context.Background(), zerolog.Nop(), cfg, names(2), 0, func(context.Context, int, int) (Outcome, error) {
		return 0, apierrors.NewTooManyRequests("busy", 0)
	}, nil)
	if res.Failed != 2 || !strings.Contains(res.Err().Error(), "still failing") {
		t.Fatalf("failed %d, err %v", res.Failed, res.Err())
	}
}

func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	res := Run(ctx, zerolog.Nop(), fast, names(1000), 0, func(ctx context.Context, _, _ int) (Outcome, error) {
		if calls.Add(1) == 50 {
			cancel() // Ctrl-C in the middle of the run
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return Changed, nil
	}, nil)
	if !res.Interrupted || res.Done >= 1000 || res.Failed != 0 {
		t.Fatalf("interrupted %v done %d failed %d", res.Interrupted, res.Done, res.Failed)
	}
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), "re-run") {
		t.Fatalf("Err() = %v", err)
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{apierrors.NewTooManyRequests("x", 1), true},
		{apierrors.NewServerTimeout(nodesGR, "create", 1), true},
		{apierrors.NewServiceUnavailable("x"), true},
		{apierrors.NewInternalError(errors.New("etcdserver: request timed out")), true},
		{fmt.Errorf("post: %w", syscall.ECONNREFUSED), true},
		{fmt.Errorf("post: %w", context.DeadlineExceeded), true},
		{apierrors.NewAlreadyExists(nodesGR, "n"), false},
		{apierrors.NewForbidden(nodesGR, "n", errors.New("no")), false},
		{apierrors.NewBadRequest("bad"), false},
		{errors.New("something else"), false},
	}
	for _, tt := range tests {
		if got := Retryable(tt.err); got != tt.want {
			t.Errorf("Retryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
