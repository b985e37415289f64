package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/rs/zerolog"
)

// sysmonAwake is the GODEBUG setting that keeps the Go runtime's monitor
// thread (sysmon) out of its deep sleep: with schedtrace set, sysmon never
// parks until woken and sleeps at most 10 ms between rounds instead. The
// period, 2^31-1 ms (~24.8 days), means the trace line it enables is printed
// at most once per 24.8 days of host uptime.
//
// Why: kube-apiserver's writes reach memetcd a few milliseconds apart, so the
// process goes idle between them. An idle runtime parks sysmon; the next
// request's first system call wakes it, and it then polls every 20 µs until
// the process is idle again, ~6 wake-ups per Kubernetes write on the 2-core
// VM of memetcd/BENCHMARKS.md, 17% of memetcd's CPU per write there. Kept
// awake it costs ~100 wake-ups a second whether busy or idle (2.3 ms/s more
// CPU when idle, same VM).
const sysmonAwake = "schedtrace=2147483647"

// keepSysmonAwake re-executes this binary with sysmonAwake added to GODEBUG
// (the runtime reads GODEBUG once, before main), unless GODEBUG already sets
// schedtrace. It returns only if it does not re-execute, or on error.
func keepSysmonAwake(log zerolog.Logger) error {
	env, changed := withSysmonAwake(os.Environ())
	if !changed {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary to re-execute: %w", err)
	}
	log.Debug().Str("godebug", sysmonAwake).Msg("re-executing with the Go runtime's monitor kept from deep sleep (--go-sysmon-deep-sleep to keep Go's default)")
	if err := syscall.Exec(exe, os.Args, env); err != nil {
		return fmt.Errorf("re-execute %s: %w", exe, err)
	}
	return nil
}

// withSysmonAwake returns env with sysmonAwake in GODEBUG, and whether it had
// to add it (false when GODEBUG already sets schedtrace, the user's choice).
func withSysmonAwake(env []string) ([]string, bool) {
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		v, ok := strings.CutPrefix(kv, "GODEBUG=")
		if !ok {
			out = append(out, kv)
			continue
		}
		for _, setting := range strings.Split(v, ",") {
			if strings.HasPrefix(strings.TrimSpace(setting), "schedtrace=") {
				return env, false
			}
		}
		found = true
		if v == "" {
			kv = "GODEBUG=" + sysmonAwake
		} else {
			kv = "GODEBUG=" + v + "," + sysmonAwake
		}
		out = append(out, kv)
	}
	if !found {
		out = append(out, "GODEBUG="+sysmonAwake)
	}
	return out, true
}
