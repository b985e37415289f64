package cycle

import "github.com/prometheus/client_golang/prometheus"

// Outcomes of one item on one member.
const (
	resultWon           = "won"           // won and bound
	resultLost          = "lost"          // another member won, or nobody did
	resultNoVerdict     = "no_verdict"    // the tree gave no verdict in time
	resultUnschedulable = "unschedulable" // no node of this shard fits
	resultBindFailed    = "bind_failed"   // won, but Reserve, Permit, PreBind or the Binding failed
	resultExpired       = "expired"       // the item's deadline passed before the member got to it
	resultDropped       = "dropped"       // the member's item queue was full
	resultInvalid       = "invalid"       // undecodable pod, or a scheduler name no profile serves
	resultError         = "error"         // node selection failed
	resultHeld          = "held"          // submitted again while this member holds it (bid in flight, won or bound): re-bid, no search
)

// Metrics are the pod path's Prometheus metrics.
type Metrics struct {
	items         *prometheus.CounterVec
	verdictWait   prometheus.Histogram
	bindDuration  prometheus.Histogram
	inFlight      prometheus.Gauge
	bindings      prometheus.Gauge
	queued        prometheus.Gauge
	claimsRefused prometheus.Counter
	holdsAssumed  prometheus.Counter
	lanes         prometheus.Gauge
}

// NewMetrics registers the pod path's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := prometheus.ExponentialBuckets(0.0001, 2, 16) // 100µs .. ~3.3s
	m := &Metrics{
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distscheduler_cycle_items_total",
			Help: "Pod items through this member by outcome (won, lost, no_verdict, unschedulable, bind_failed, expired, dropped, invalid, error, held); rate(won) summed over members is the scheduler's pods/s.",
		}, []string{"result"}),
		verdictWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "distscheduler_cycle_verdict_wait_seconds",
			Help:    "Time from this member's feasible bid to its verdict.",
			Buckets: buckets,
		}),
		bindDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "distscheduler_cycle_bind_duration_seconds",
			Help:    "Time from a won verdict to the Binding's acknowledgement (PreBind and the Binding POST).",
			Buckets: buckets,
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "distscheduler_cycle_in_flight_bids",
			Help: "Feasible bids of this member awaiting their verdict.",
		}),
		bindings: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "distscheduler_cycle_bindings_in_flight",
			Help: "Won pods of this member whose PreBind and Binding are under way (at most Bindings; a win waits for room).",
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "distscheduler_cycle_queued_items",
			Help: "Items that reached this member and wait for node selection.",
		}),
		claimsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distscheduler_cycle_claims_refused_total",
			Help: "Nodes a scheduling loop found for a pod but could not bid on, because another of the member's loops had taken them meanwhile; the pod was searched for again.",
		}),
		holdsAssumed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distscheduler_cycle_holds_assumed_early_total",
			Help: "Pods of bids in flight assumed in the cache before their verdict, because a search found no free node while those bids held nodes (holds.go); a bid is otherwise assumed only when it wins.",
		}),
		lanes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "distscheduler_cycle_scheduling_loops",
			Help: "Scheduling loops this member runs at once (--num-concurrent-schedulers, at most GOMAXPROCS).",
		}),
	}
	for _, r := range []string{resultWon, resultLost, resultNoVerdict, resultUnschedulable, resultBindFailed,
		resultExpired, resultDropped, resultInvalid, resultError, resultHeld} {
		m.items.WithLabelValues(r)
	}
	reg.MustRegister(m.items, m.verdictWait, m.bindDuration, m.inFlight, m.bindings, m.queued, m.claimsRefused, m.holdsAssumed, m.lanes)
	return m
}
