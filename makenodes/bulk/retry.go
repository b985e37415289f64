package bulk

import (
	"context"
	"errors"
	"net"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// Retryable reports whether err is worth trying again: the apiserver asked us to
// slow down or was too busy, a request timed out, or the apiserver could not be
// reached (it may be restarting). Everything else — invalid objects, forbidden,
// conflicts — would fail the same way again.
func Retryable(err error) bool {
	switch {
	case err == nil:
		return false
	case apierrors.IsTooManyRequests(err),
		apierrors.IsServerTimeout(err),
		apierrors.IsTimeout(err),
		apierrors.IsServiceUnavailable(err),
		apierrors.IsInternalError(err), // e.g. "etcdserver: request timed out" while the store recovers
		apierrors.IsUnexpectedServerError(err):
		return true
	case errors.Is(err, context.DeadlineExceeded), // the per-request timeout, not the run's context
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		utilnet.IsConnectionRefused(err),
		utilnet.IsConnectionReset(err),
		utilnet.IsProbableEOF(err),
		utilnet.IsHTTP2ConnectionLost(err),
		utilnet.IsTimeout(err):
		return true
	}
	// A transport's own verdict: h2bulk's lost connections and reset
	// streams (the request may not have been processed; creates and deletes
	// are safe to repeat).
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}
