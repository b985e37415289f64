package transport

import (
	"context"
	"sync"
	"time"
)

// callCtx is the context of a unary call run on its connection's reader
// (Config.InlineUnary). Such a call never waits for anything (inline calls
// are only configured when no write waits for the disk), and while it runs
// the reader sees no reset and no closing of the connection, so the usual
// per-call context, a cancellable child of the connection's (an allocation
// and a registration with the parent, undone at the end) and, with
// grpc-timeout, a deadline timer (set and stopped in the runtime's timer
// heap), would cost every request for nothing: ~7% of memetcd's CPU under
// kube-apiserver's writes (BENCHMARKS.md). callCtx answers Deadline and Err
// from the call's deadline and the connection; only when something asks
// for Done while a deadline is set does it make the real context, once, so
// that Done still closes at the deadline.
type callCtx struct {
	conn     context.Context
	deadline time.Time // zero: none

	once   sync.Once
	real   context.Context // made by Done, or by release
	cancel context.CancelFunc
}

func newCallCtx(conn context.Context, timeout time.Duration) *callCtx {
	c := &callCtx{conn: conn}
	if timeout > 0 {
		c.deadline = time.Now().Add(timeout)
	}
	return c
}

func (c *callCtx) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

func (c *callCtx) Done() <-chan struct{} {
	if c.deadline.IsZero() {
		return c.conn.Done()
	}
	c.once.Do(func() { c.real, c.cancel = context.WithDeadline(c.conn, c.deadline) })
	return c.real.Done()
}

func (c *callCtx) Err() error {
	if err := c.conn.Err(); err != nil {
		return err
	}
	if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *callCtx) Value(key any) any { return c.conn.Value(key) }

// release ends the call: the real context, if Done made one, is cancelled.
func (c *callCtx) release() {
	c.once.Do(func() { c.real = c.conn })
	if c.cancel != nil {
		c.cancel()
	}
}
