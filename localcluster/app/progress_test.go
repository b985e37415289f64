package app

import (
	"context"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/cli/logging/logtest"
	"github.com/k8s1m/k8s1m/localcluster/tracker"
	"github.com/rs/zerolog"
)

// A phase shorter than the progress interval still gets its line: one is
// printed as each phase begins, not only at the interval's ticks (a 3 s pods
// phase under --progress 5s printed none).
func TestProgressLineAtEachPhase(t *testing.T) {
	var out logtest.Buffer
	p := newProgress(zerolog.New(&out), time.Hour, tracker.New(), 10, 20)
	stop := p.run(context.Background())
	defer stop()
	for _, phase := range []string{"nodes", "pods", "report"} {
		p.set(phase)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ok := out.WaitFor(ctx, `"phase":"`+phase+`"`)
		cancel()
		if !ok {
			t.Fatalf("no progress line for phase %s within 30 s; log:\n%s", phase, out.String())
		}
	}
}
