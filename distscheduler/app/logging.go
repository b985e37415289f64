package app

import (
	"github.com/go-logr/zerologr"
	"github.com/rs/zerolog"
	"k8s.io/klog/v2"
)

// RouteKlog sends everything upstream Kubernetes code logs through klog into
// log, so an operator reads one format. klog is process-wide: call this
// once, from main.
//
// The logger is also the contextual one (klog.Background, klog.FromContext):
// upstream's framework asks logger.V(4).Enabled() for every node it filters
// and scores, and through klog's own wrapper each such check allocates
// (about 9% of a member's CPU at 50,000 nodes); zerologr answers it from
// the zerolog level without allocating. So contextual logs are gated by
// log's level (logr V(1) is debug, V(2) and up trace), the old global klog
// calls by klog's -v as before.
func RouteKlog(log zerolog.Logger) {
	l := log.With().Str("component", "kube-scheduler").Logger()
	klog.SetLoggerWithOptions(zerologr.New(&l), klog.ContextualLogger(true))
}
