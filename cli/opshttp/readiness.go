package opshttp

import (
	"errors"
	"sync/atomic"
)

// Readiness is a readiness check the process sets as it comes up (or goes
// down): not ready, with a reason, until Set.
type Readiness struct {
	notReady atomic.Pointer[error]
}

// NewReadiness starts not ready because of reason (what an operator reading
// /readyz should know, e.g. "caches syncing").
func NewReadiness(reason string) *Readiness {
	r := &Readiness{}
	r.Unset(reason)
	return r
}

// Set marks the process ready.
func (r *Readiness) Set() { r.notReady.Store(nil) }

// Unset marks the process not ready because of reason.
func (r *Readiness) Unset(reason string) {
	err := errors.New("not ready: " + reason)
	r.notReady.Store(&err)
}

// Check is nil when ready, else the reason; use it as Config.Ready.
func (r *Readiness) Check() error {
	if p := r.notReady.Load(); p != nil {
		return *p
	}
	return nil
}
