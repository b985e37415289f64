// Package bulk runs one API call per object over a bounded pool of workers, with
// an optional request rate limit, and decides per error whether to retry (the
// apiserver is busy or unreachable), accept (the object is already in the wanted
// state) or give up on that object (anything else, reported by name and counted).
//
// It knows nothing of nodes or pods: callers hand it object names and a function
// that acts on one, so node and pod creation and deletion share one engine.
package bulk

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/k8s1m/k8s1m/makenodes/progress"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Outcome is what a call did to its object.
type Outcome int

const (
	// Changed means the call created or deleted the object.
	Changed Outcome = iota
	// Already means the object was already in the wanted state (AlreadyExists on
	// create, NotFound on delete): success without work, which is what makes
	// re-runs idempotent.
	Already
)

// Op acts on object i of the run (an index into the names given to Run). worker
// is the calling worker's number (0..Concurrency-1), so callers can spread
// workers over several clients.
type Op func(ctx context.Context, worker, i int) (Outcome, error)

// Config tunes a run. Zero fields take the defaults documented on each.
type Config struct {
	// Concurrency is the number of calls in flight. Default 100.
	Concurrency int
	// QPS caps calls started per second over the whole run; 0 means no cap.
	QPS float64
	// RetryFor bounds how long one object is retried on retryable errors
	// (throttling, timeouts, apiserver unreachable) before it counts as failed.
	// Default 10 minutes: long enough to ride out an apiserver restart.
	RetryFor time.Duration
	// InitialBackoff and MaxBackoff shape the per-object exponential backoff.
	// Defaults 100ms and 5s.
	InitialBackoff, MaxBackoff time.Duration
	// MaxReportedErrors caps the errors kept in the Result (all are counted).
	// Default 20.
	MaxReportedErrors int
}

func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = 100
	}
	if c.RetryFor <= 0 {
		c.RetryFor = 10 * time.Minute
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.MaxReportedErrors <= 0 {
		c.MaxReportedErrors = 20
	}
	return c
}

// ObjectError is a failure on one named object.
type ObjectError struct {
	Name string
	Err  error
}

func (e ObjectError) Error() string { return fmt.Sprintf("%s: %v", e.Name, e.Err) }
func (e ObjectError) Unwrap() error { return e.Err }

// Result summarises a run.
type Result struct {
	progress.Counts
	Elapsed time.Duration
	// Interrupted is true when the context ended the run before every object
	// was handled; the objects not handled are left for a re-run.
	Interrupted bool
	// Errors holds the first MaxReportedErrors failures.
	Errors []ObjectError
}

// PerSecond is the rate of objects changed by this run.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Done) / r.Elapsed.Seconds()
}

// Err is nil when every object reached the wanted state, else an error saying
// how many failed (with the first one) or that the run was interrupted.
func (r Result) Err() error {
	switch {
	case r.Interrupted:
		return fmt.Errorf("interrupted after %d of %d objects (%d failed); re-run to continue",
			r.Finished()-r.Failed, r.Total, r.Failed)
	case r.Failed > 0:
		return fmt.Errorf("%d of %d objects failed, first: %w", r.Failed, r.Total, r.Errors[0])
	}
	return nil
}

// counters are updated by the workers and read by the progress reporter.
type counters struct {
	done, already, failed, retries atomic.Int64
}

func (c *counters) snapshot(total int64) progress.Counts {
	return progress.Counts{Total: total, Done: c.done.Load(), Already: c.already.Load(),
		Failed: c.failed.Load(), Retries: c.retries.Load()}
}

// Run calls op once per name (more on retryable errors) and returns when all
// names are handled or ctx is done. alreadyDone objects were found in the wanted
// state before the run (e.g. by listing) and are counted without a call. rep may
// be nil.
func Run(ctx context.Context, log zerolog.Logger, cfg Config, names []string, alreadyDone int, op Op, rep *progress.Reporter) Result {
	cfg = cfg.withDefaults()
	total := int64(len(names) + alreadyDone)
	var c counters
	c.already.Add(int64(alreadyDone))

	var limiter *rate.Limiter
	if cfg.QPS > 0 {
		burst := max(1, int(cfg.QPS/10)) // a tenth of a second's worth: smooth, yet cheap to check
		limiter = rate.NewLimiter(rate.Limit(cfg.QPS), burst)
	}

	start := time.Now()
	watchCtx, stopWatch := context.WithCancel(ctx)
	go rep.Watch(watchCtx, start, func() progress.Counts { return c.snapshot(total) })

	var (
		next   atomic.Int64 // index of the next name to hand out
		errMu  sync.Mutex   // guards errs
		errs   []ObjectError
		wg     sync.WaitGroup
		record = func(name string, err error) {
			c.failed.Add(1)
			log.Debug().Str("object", name).Err(err).Msg("failed")
			errMu.Lock()
			defer errMu.Unlock()
			if len(errs) < cfg.MaxReportedErrors {
				errs = append(errs, ObjectError{Name: name, Err: err})
			}
		}
	)
	workers := min(cfg.Concurrency, len(names))
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(names)) {
					return
				}
				out, err := attempt(ctx, cfg, limiter, &c, func(ctx context.Context) (Outcome, error) {
					return op(ctx, w, int(i))
				})
				switch {
				case err == nil && out == Already:
					c.already.Add(1)
				case err == nil:
					c.done.Add(1)
				case ctx.Err() != nil:
					// Interrupted mid-call: neither done nor failed; a re-run redoes it.
				default:
					record(names[i], err)
				}
			}
		})
	}
	wg.Wait()
	stopWatch()

	res := Result{Counts: c.snapshot(total), Elapsed: time.Since(start), Errors: errs}
	res.Interrupted = res.Finished() < res.Total
	rep.Finish(res.Counts, res.Elapsed, res.Interrupted)
	return res
}

// attempt runs call until it succeeds, fails with a permanent error, the
// object's retry time is used up, or ctx ends.
func attempt(ctx context.Context, cfg Config, limiter *rate.Limiter, c *counters, call func(context.Context) (Outcome, error)) (Outcome, error) {
	deadline := time.Now().Add(cfg.RetryFor)
	backoff := cfg.InitialBackoff
	for {
		if limiter != nil {
			if err := limiter.Wait(ctx); err != nil {
				return 0, err
			}
		}
		out, err := call(ctx)
		if err == nil || ctx.Err() != nil || !Retryable(err) {
			return out, err
		}
		if time.Now().Add(backoff).After(deadline) {
			return 0, fmt.Errorf("still failing after retrying for %s: %w", cfg.RetryFor, err)
		}
		c.retries.Add(1)
		wait := jitter(backoff)
		if s, ok := apierrors.SuggestsClientDelay(err); ok {
			// The apiserver said when to come back (Retry-After on 429 and 5xx).
			wait = max(wait, time.Duration(s)*time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, cfg.MaxBackoff)
	}
}

// jitter spreads retries of many workers that failed together over
// [d/2, d), so they do not all hit a recovering apiserver at the same instant.
func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(time.Now().UnixNano()%int64(d/2+1))
}
