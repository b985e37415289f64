// Package logtest holds what a test needs to read a log, or a process's
// output, while something else is still writing it.
package logtest

import (
	"bytes"
	"context"
	"sync"
)

// Buffer is an io.Writer that any number of goroutines may write to while a
// test reads what has been written so far: a logger's output, or a child
// process's stdout and stderr. The zero value is ready to use.
type Buffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // closed at the next Write; nil while nobody waits
}

// Write appends p. It never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.written != nil {
		close(b.written)
		b.written = nil
	}
	return n, err
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Contains reports whether s has been written (within one write or across
// several).
func (b *Buffer) Contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Contains(b.buf.Bytes(), []byte(s))
}

// Tail returns the last n bytes written (all of them if fewer), for a
// failure message that should not drown the test log.
func (b *Buffer) Tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.buf.Bytes()
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return string(out)
}

// WaitFor blocks until s has been written or ctx is done, and reports whether
// s was written. It wakes at each Write rather than polling.
func (b *Buffer) WaitFor(ctx context.Context, s string) bool {
	for {
		b.mu.Lock()
		if bytes.Contains(b.buf.Bytes(), []byte(s)) {
			b.mu.Unlock()
			return true
		}
		if b.written == nil {
			b.written = make(chan struct{})
		}
		written := b.written
		b.mu.Unlock()
		select {
		case <-written:
		case <-ctx.Done():
			return false
		}
	}
}
