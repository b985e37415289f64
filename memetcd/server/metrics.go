package server

import (
	"github.com/k8s1m/k8s1m/memetcd/server/grpcmetrics"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus metrics. Request counts and latency per
// RPC are grpcmetrics', under the grpc_server_* names etcd exports too.
type metrics struct {
	grpc      *grpcmetrics.Metrics
	watchers  prometheus.Gauge
	streams   prometheus.Gauge
	watchLag  prometheus.Histogram
	events    prometheus.Counter
	hasLeader prometheus.Gauge
	progress  prometheus.Counter
	// watchersRefused counts watch creates refused by MaxWatchersPerStream.
	watchersRefused prometheus.Counter
	quota           prometheus.Gauge
	nospace         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		grpc:     grpcmetrics.New(reg, []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5}),
		watchers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "etcd_debugging_mvcc_watcher_total", Help: "Total number of watchers."}),
		streams:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "etcd_debugging_mvcc_watch_stream_total", Help: "Total number of watch streams."}),
		watchLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "memetcd_server_watch_lag_revisions",
			Help:    "How many revisions a watch stream was behind the store when it woke up to send.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "etcd_debugging_mvcc_events_total", Help: "Total number of events sent by this member."}),
		progress: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "memetcd_server_watch_progress_requests_total",
			Help: "RequestProgress messages received on watch streams (kube-apiserver's consistent reads from its watch cache).",
		}),
		hasLeader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "etcd_server_has_leader", Help: "Whether or not a leader exists. 1 is existence, 0 is not."}),
	}
	m.watchersRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "memetcd_server_watchers_refused_total",
		Help: "Watch creates refused because their stream held --max-watchers-per-stream watchers.",
	})
	m.quota = prometheus.NewGauge(prometheus.GaugeOpts{Name: "etcd_server_quota_backend_bytes", Help: "Current backend storage quota size in bytes."})
	m.nospace = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "memetcd_server_nospace_alarms_total",
		Help: "Times the NOSPACE alarm was raised (a write would have passed --quota-backend-bytes).",
	})
	m.hasLeader.Set(1) // a single member is always its own leader
	reg.MustRegister(m.watchers, m.streams, m.watchLag, m.events, m.hasLeader, m.progress, m.watchersRefused, m.quota, m.nospace)
	return m
}
