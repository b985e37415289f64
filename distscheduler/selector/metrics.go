package selector

import "github.com/prometheus/client_golang/prometheus"

// Outcomes of one pod's node selection on one member.
const (
	resultWon           = "won"
	resultLost          = "lost"
	resultUnschedulable = "unschedulable"
	resultError         = "error"
)

// Metrics are the selector's Prometheus metrics.
type Metrics struct {
	pods           *prometheus.CounterVec
	localDuration  prometheus.Histogram
	gatherDuration prometheus.Histogram
	stragglers     prometheus.Counter
	nodesEvaluated prometheus.Counter
	shardNodes     prometheus.Gauge
	recovered      prometheus.Counter

	indexNarrowed   prometheus.Counter
	indexFullPasses prometheus.Counter
	indexRebuilds   prometheus.Counter
}

// NewMetrics registers the selector's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := prometheus.ExponentialBuckets(0.0001, 2, 16) // 100µs .. ~3.3s
	m := &Metrics{
		pods: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distscheduler_selector_pods_total",
			Help: "Pods through node selection on this member by outcome (won, lost, unschedulable, error); rate(won) summed over members is the scheduler's pods/s.",
		}, []string{"result"}),
		localDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "distscheduler_selector_local_duration_seconds",
			Help:    "Wall time of upstream's filter and score over this member's shard, per pod.",
			Buckets: buckets,
		}),
		gatherDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "distscheduler_selector_gather_duration_seconds",
			Help:    "Time from submitting this member's bid to receiving the verdict, per pod.",
			Buckets: buckets,
		}),
		stragglers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distscheduler_selector_gather_stragglers_total",
			Help: "Members whose bids missed a gather's decision, summed over the verdicts this member received.",
		}),
		nodesEvaluated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distscheduler_selector_nodes_evaluated_total",
			Help: "Nodes run through the filter plugins on this member.",
		}),
		shardNodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "distscheduler_shard_nodes",
			Help: "Nodes in this member's shard at its last scheduling cycle.",
		}),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distscheduler_selector_dropped_pods_requeued_total",
			Help: "Pods this member had lost to a winner that never bound them, requeued here.",
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
	for _, r := range []string{resultWon, resultLost, resultUnschedulable, resultError} {
		m.pods.WithLabelValues(r)
	}
	reg.MustRegister(m.pods, m.localDuration, m.gatherDuration, m.stragglers, m.nodesEvaluated, m.shardNodes, m.recovered,
		m.indexNarrowed, m.indexFullPasses, m.indexRebuilds)
	return m
}
