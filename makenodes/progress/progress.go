// Package progress reports how far a bulk run has got: a live line rewritten in
// place when the output is a terminal (people watch it), a log line every interval
// otherwise (CI and log pipelines keep it), and a summary when the run ends.
package progress

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/term"
)

// Counts is a snapshot of a run's counters.
type Counts struct {
	Total   int64 // objects the run is responsible for (including ones found done)
	Done    int64 // objects this run changed (created or deleted)
	Already int64 // objects already in the wanted state (existed / were absent)
	Failed  int64 // objects given up on
	Retries int64 // retried calls (throttling, timeouts, apiserver unreachable)
}

// Finished is how many objects reached a final state.
func (c Counts) Finished() int64 { return c.Done + c.Already + c.Failed }

// Reporter prints progress for one run. The zero value is silent.
type Reporter struct {
	what     string // "create nodes", used in every line
	log      zerolog.Logger
	live     io.Writer // non-nil when the live line goes to a terminal
	interval time.Duration
}

// New returns a reporter for the run named what. When out is a terminal the live
// line is written to it every second; otherwise log gets a line every interval.
func New(what string, log zerolog.Logger, out io.Writer, interval time.Duration) *Reporter {
	r := &Reporter{what: what, log: log, interval: interval}
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		r.live = out
		r.interval = time.Second
	}
	if r.interval <= 0 {
		r.interval = 10 * time.Second
	}
	return r
}

// Watch reports read() every interval until ctx is done. Run it in its own
// goroutine; it returns when ctx is cancelled.
func (r *Reporter) Watch(ctx context.Context, start time.Time, read func() Counts) {
	if r == nil {
		return
	}
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.report(read(), now.Sub(start))
		}
	}
}

func (r *Reporter) report(c Counts, elapsed time.Duration) {
	rate := perSecond(c.Done, elapsed)
	eta := "?"
	if left := c.Total - c.Finished(); rate > 0 && left >= 0 {
		eta = (time.Duration(float64(left)/rate) * time.Second).Round(time.Second).String()
	}
	if r.live != nil {
		// \r and the clear-to-end escape keep one line that is rewritten in place.
		fmt.Fprintf(r.live, "\r%s: %d/%d done (%d already), %.0f/s, %d errors, %d retries, ETA %s\x1b[K",
			r.what, c.Finished()-c.Failed, c.Total, c.Already, rate, c.Failed, c.Retries, eta)
		return
	}
	r.log.Info().Str("run", r.what).Int64("total", c.Total).Int64("done", c.Done).
		Int64("already", c.Already).Int64("errors", c.Failed).Int64("retries", c.Retries).
		Float64("per_second", round1(rate)).Str("eta", eta).Msg("progress")
}

// Finish ends the live line and logs the summary of the run.
func (r *Reporter) Finish(c Counts, elapsed time.Duration, interrupted bool) {
	if r == nil {
		return
	}
	if r.live != nil {
		fmt.Fprintln(r.live)
	}
	ev := r.log.Info()
	msg := "finished"
	switch {
	case interrupted:
		ev = r.log.Warn()
		msg = "interrupted: re-run the same command to continue where it stopped"
	case c.Failed > 0:
		ev = r.log.Error()
		msg = "finished with errors"
	}
	ev.Str("run", r.what).Int64("total", c.Total).Int64("done", c.Done).Int64("already", c.Already).
		Int64("left", c.Total-c.Finished()).Int64("errors", c.Failed).Int64("retries", c.Retries).
		Dur("elapsed", elapsed).Float64("per_second", round1(perSecond(c.Done, elapsed))).Msg(msg)
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
