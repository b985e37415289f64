package transport

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxKey struct{}

// A call run on the reader gets a context that reports its deadline and
// its connection's end without a timer of its own, and whose Done still
// closes at the deadline when something waits on it.
func TestCallCtx(t *testing.T) {
	conn, closeConn := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	defer closeConn()

	none := newCallCtx(conn, 0)
	if _, ok := none.Deadline(); ok {
		t.Error("no grpc-timeout: the context has a deadline")
	}
	if none.Done() != conn.Done() || none.Err() != nil || none.Value(ctxKey{}) != "v" {
		t.Error("no grpc-timeout: not the connection's Done, Err and values")
	}
	none.release()

	c := newCallCtx(conn, 30*time.Millisecond)
	d, ok := c.Deadline()
	if !ok || time.Until(d) > 30*time.Millisecond {
		t.Errorf("deadline %v %v, want within 30ms", d, ok)
	}
	// Err before the deadline is nil; on a starved machine the deadline may
	// have passed already, which Err may then say.
	if err := c.Err(); err != nil && time.Now().Before(d) {
		t.Errorf("Err before the deadline: %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done did not close at the deadline")
	}
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Errorf("Err after the deadline: %v", c.Err())
	}
	c.release()

	// The connection ending ends the call, with or without a deadline, and
	// a child context derived from the call's follows it.
	long := newCallCtx(conn, time.Hour)
	child, stop := context.WithCancel(long)
	defer stop()
	closeConn()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a child of the call's context did not end with the connection")
	}
	if !errors.Is(long.Err(), context.Canceled) || !errors.Is(none.Err(), context.Canceled) {
		t.Errorf("Err after the connection ended: %v, %v", long.Err(), none.Err())
	}
	long.release()
}
