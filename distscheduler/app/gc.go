package app

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
)

// DefaultGCPercent is the garbage collector's target for a member: a
// member allocates per pod (decoding it, upstream's cycle state, plugin
// scratch) far more than it keeps, so the default 100 spends a fifth of its
// CPU marking a small heap over and over. The original ran its schedulers
// with GOGC=800 and a memory limit at 90% of the container's.
const DefaultGCPercent = 800

// TuneGC sets the collector's target to percent and its soft memory limit
// to 90% of the cgroup's memory limit, each unless the operator set GOGC or
// GOMEMLIMIT (the runtime's own variables win). percent <= 0 leaves the
// runtime's default. It is process-wide: call it once, from main.
func TuneGC(percent int, log zerolog.Logger) {
	if _, set := os.LookupEnv("GOGC"); !set && percent > 0 {
		debug.SetGCPercent(percent)
		log.Debug().Int("gc_percent", percent).Msg("garbage collector target set")
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return
	}
	if limit, ok := cgroupMemoryLimit(); ok {
		debug.SetMemoryLimit(limit / 10 * 9)
		log.Debug().Int64("memory_limit_bytes", limit/10*9).Msg("garbage collector memory limit set")
	}
}

// cgroupMemoryLimit is the cgroup v2 memory limit of this process, if any.
func cgroupMemoryLimit() (int64, bool) {
	b, err := os.ReadFile("/sys/fs/cgroup/memory.max")
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || v <= 0 {
		return 0, false // "max": no limit
	}
	return v, true
}
