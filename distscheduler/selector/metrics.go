package selector

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the selector's Prometheus metrics.
type Metrics struct {
	localDuration  prometheus.Histogram
	nodesEvaluated prometheus.Counter
	shardNodes     prometheus.Gauge

	indexNarrowed   prometheus.Counter
	indexFullPasses prometheus.Counter
	indexRebuilds   prometheus.Counter
}

// NewMetrics registers the selector's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := prometheus.ExponentialBuckets(0.0001, 2, 16) // 100µs .. ~3.3s
	m := &Metrics{
		localDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "distscheduler_selector_local_duration_seconds",
			Help:    "Wall time of upstream's filter and score over this member's shard, per pod.",
			Buckets: buckets,
		}),
		nodesEvaluated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distscheduler_selector_nodes_evaluated_total",
			Help: "Nodes run through the filter plugins on this member.",
		}),
		shardNodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "distscheduler_shard_nodes",
			Help: "Nodes in this member's shard at its last scheduling cycle.",
		}),
		indexNarrowed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distscheduler_selector_index_narrowed_pods_total",
			Help: "Pods whose search the node label index narrowed to the nodes that can satisfy their nodeSelector and required node affinity.",
		}),
		indexFullPasses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distscheduler_selector_index_full_passes_total",
			Help: "Narrowed searches that found no feasible node, after which every node of the shard was filtered (an unschedulable pod's diagnosis is upstream's).",
		}),
		indexRebuilds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distscheduler_selector_index_rebuilds_total",
			Help: "Times the node label index was rebuilt because the shard's nodes or their labels changed.",
		}),
	}
	reg.MustRegister(m.localDuration, m.nodesEvaluated, m.shardNodes,
		m.indexNarrowed, m.indexFullPasses, m.indexRebuilds)
	return m
}
