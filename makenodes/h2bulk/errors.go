package h2bulk

import (
	"errors"
	"fmt"

	"golang.org/x/net/http2"
)

// errUnprocessed marks a request the server never processed: Do sends it
// again on another connection.
var errUnprocessed = errors.New("h2bulk: request not processed by the server")

var errClientClosed = errors.New("h2bulk: client closed")

// ConnError is returned when a request's connection failed or was reset
// before its response was complete: the server may or may not have acted on
// it. Callers whose requests are idempotent (makenodes' creates and deletes,
// where AlreadyExists and NotFound count as success) send it again.
type ConnError struct{ Err error }

func (e *ConnError) Error() string   { return "h2bulk: connection lost: " + e.Err.Error() }
func (e *ConnError) Unwrap() error   { return e.Err }
func (e *ConnError) Retryable() bool { return true }

// StreamError is the server resetting one request's stream.
type StreamError struct {
	StreamID uint32
	Code     http2.ErrCode
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("h2bulk: stream %d reset by the server: %v", e.StreamID, e.Code)
}

// Retryable says a reset request may be sent again: the server gave up on
// it (overload, its own timeout, shutdown), not on what it asked for.
func (e *StreamError) Retryable() bool { return true }

// timeoutError is a request outliving Config.Timeout.
type timeoutError struct{}

func (timeoutError) Error() string   { return "h2bulk: request timed out" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
