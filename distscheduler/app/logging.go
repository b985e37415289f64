package app

import (
	"github.com/go-logr/zerologr"
	"github.com/rs/zerolog"
	"k8s.io/klog/v2"
)

// RouteKlog sends everything upstream Kubernetes code logs through klog into
// log, so an operator reads one format. klog's own -v still gates verbosity;
// zerologr maps logr V-levels onto zerolog levels (V(1) debug, V(2) trace).
// klog is process-wide: call this once, from main.
func RouteKlog(log zerolog.Logger) {
	l := log.With().Str("component", "kube-scheduler").Logger()
	klog.SetLogger(zerologr.New(&l))
}
