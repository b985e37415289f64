package progress

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestLogLinesWhenNotATerminal(t *testing.T) {
	lines := make(chan string, 100)
	log := zerolog.New(writerFunc(func(p []byte) (int, error) {
		lines <- string(p)
		return len(p), nil
	}))
	var out bytes.Buffer // not a terminal: no live line
	r := New("create nodes", log, &out, time.Millisecond)
	var done atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	go r.Watch(ctx, time.Now(), func() Counts { return Counts{Total: 10, Done: done.Add(1)} })
	var m map[string]any
	if err := json.Unmarshal([]byte(<-lines), &m); err != nil {
		t.Fatal(err)
	}
	cancel()
	if m["message"] != "progress" || m["run"] != "create nodes" || m["total"] != float64(10) {
		t.Fatalf("progress line = %v", m)
	}
	if out.Len() != 0 {
		t.Fatalf("live line written to a non-terminal: %q", out.String())
	}
}

func TestFinishSummary(t *testing.T) {
	tests := []struct {
		name        string
		c           Counts
		interrupted bool
		wantLevel   string
		wantMsg     string
	}{
		{"clean", Counts{Total: 5, Done: 5}, false, "info", "finished"},
		{"errors", Counts{Total: 5, Done: 4, Failed: 1}, false, "error", "finished with errors"},
		{"interrupted", Counts{Total: 5, Done: 2}, true, "warn", "interrupted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			r := New("create pods", zerolog.New(&buf), &bytes.Buffer{}, time.Second)
			r.Finish(tt.c, 2*time.Second, tt.interrupted)
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			if m["level"] != tt.wantLevel || !strings.HasPrefix(m["message"].(string), tt.wantMsg) {
				t.Fatalf("summary = %v", m)
			}
			if m["left"] != float64(tt.c.Total-tt.c.Finished()) {
				t.Fatalf("left = %v", m["left"])
			}
		})
	}
}

func TestNilReporterIsSilent(t *testing.T) {
	var r *Reporter
	r.Watch(context.Background(), time.Now(), nil)
	r.Finish(Counts{}, 0, false)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
