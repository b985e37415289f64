//go:build !linux

package wal

import "time"

// lockFlusherThread does nothing outside Linux (see sched_linux.go).
func lockFlusherThread(time.Duration) error { return nil }
