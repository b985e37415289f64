package relay

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are one member's Prometheus metrics. Names follow
// relay_<subsystem>_<name>_<unit>.
type metrics struct {
	submitted          prometheus.Counter
	itemsIn            prometheus.Counter
	itemsOut           prometheus.Counter
	rescattered        prometheus.Counter
	scatterBatches     prometheus.Counter
	expired            prometheus.Counter
	fanoutLatency      prometheus.Histogram
	reports            prometheus.Counter
	rerouted           prometheus.Counter
	verdicts           *prometheus.CounterVec
	decisions          *prometheus.CounterVec
	stragglers         prometheus.Counter
	gatherLatency      prometheus.Histogram
	originDecisions    *prometheus.CounterVec
	duplicateDecisions prometheus.Counter
	rejectedDecisions  prometheus.Counter
	resentDecisions    prometheus.Counter
	members            *prometheus.GaugeVec
	// sentMessages counts gRPC messages sent per stream kind; with the item
	// counters it shows how well batching works.
	sentMessages *prometheus.CounterVec
	// overflows counts streams closed because their queue overflowed, and
	// refused counts messages refused for naming a member other than the
	// sender's certificate.
	overflows                                                                     *prometheus.CounterVec
	overflowScatter, overflowReport, overflowDecide, overflowVerdict, overflowAck prometheus.Counter
	refusedNames                                                                  prometheus.Counter
	cappedDeadlines                                                               prometheus.Counter
	reportStreams                                                                 prometheus.Gauge
	// Children of the vectors resolved once: a label lookup per item costs
	// more than the increment.
	sentScatter, sentReport, sentVerdict, sentDecide, sentAck prometheus.Counter
	verdictWin, verdictLose, verdictTimeout                   prometheus.Counter
	decidedWinner, decidedNoWinner                            prometheus.Counter
}

// latencyBuckets span 100µs to ~10s: scatter hops are sub-millisecond, gathers
// end at deadlines of seconds.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2, 18)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		submitted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_scatter_submitted_items_total", Help: "Items submitted by this member as root.",
		}),
		itemsIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_scatter_received_items_total", Help: "Items received from a parent or submitted, duplicates included.",
		}),
		itemsOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_scatter_forwarded_items_total", Help: "Items queued to children (one per child).",
		}),
		rescattered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_scatter_rescattered_items_total", Help: "Items re-sent to new children after a membership change.",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_scatter_expired_items_total", Help: "Items dropped on arrival because their deadline had passed.",
		}),
		scatterBatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_scatter_sent_batches_total", Help: "Scatter batches sent to children.",
		}),
		fanoutLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "relay_scatter_fanout_latency_seconds", Help: "Time from submission at the root to arrival at this member (clocks of different hosts included).",
			Buckets: latencyBuckets,
		}),
		reports: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_gather_reports_total", Help: "Scores this member reported.",
		}),
		rerouted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_gather_rerouted_reports_total", Help: "Scores re-sent to another gatherer because theirs left.",
		}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_gather_verdicts_total", Help: "Verdicts this member received, by outcome (win, lose, timeout).",
		}, []string{"outcome"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_gather_decisions_total", Help: "Items this member decided as gatherer, by result (winner, no_winner).",
		}, []string{"result"}),
		stragglers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_gather_stragglers_total", Help: "Expected reports given up on at a deadline.",
		}),
		gatherLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "relay_gather_decision_latency_seconds", Help: "Time from submission at the root to the gatherer's decision.",
			Buckets: latencyBuckets,
		}),
		originDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_origin_decisions_total", Help: "Decisions delivered for items this member submitted, by source (gatherer, backstop).",
		}, []string{"source"}),
		duplicateDecisions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_origin_dropped_decisions_total", Help: "Decisions dropped at the origin because the item already had one.",
		}),
		rejectedDecisions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_gather_rejected_decisions_total", Help: "Decisions with a winner this member made that the origin refused (the item was decided otherwise).",
		}),
		resentDecisions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_gather_resent_decisions_total", Help: "Decisions sent again because the link to their origin closed before the origin answered.",
		}),
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "relay_members", Help: "Members in this member's view, by role.",
		}, []string{"role"}),
		sentMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_link_sent_messages_total", Help: "Batches sent on the long-lived streams, by stream (scatter, report, verdict, decide, scatter_ack).",
		}, []string{"stream"}),
		overflows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_link_overflows_total", Help: "Streams closed because their queue reached MaxQueue (the peer did not drain them), by stream (scatter, report, verdict, decide, scatter_ack).",
		}, []string{"stream"}),
		refusedNames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_link_refused_names_total", Help: "Streams refused because a message named a member the sender's TLS certificate does not name.",
		}),
		reportStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relay_gather_report_streams", Help: "Report streams being served by this member (one per reporter that sends it scores).",
		}),
		cappedDeadlines: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relay_scatter_capped_deadlines_total", Help: "Item and score deadlines shortened to MaxDeadline.",
		}),
	}
	m.overflowScatter = m.overflows.WithLabelValues("scatter")
	m.overflowReport = m.overflows.WithLabelValues("report")
	m.overflowDecide = m.overflows.WithLabelValues("decide")
	m.overflowVerdict = m.overflows.WithLabelValues("verdict")
	m.overflowAck = m.overflows.WithLabelValues("scatter_ack")
	m.sentScatter = m.sentMessages.WithLabelValues("scatter")
	m.sentReport = m.sentMessages.WithLabelValues("report")
	m.sentVerdict = m.sentMessages.WithLabelValues("verdict")
	m.sentDecide = m.sentMessages.WithLabelValues("decide")
	m.sentAck = m.sentMessages.WithLabelValues("scatter_ack")
	m.verdictWin = m.verdicts.WithLabelValues("win")
	m.verdictLose = m.verdicts.WithLabelValues("lose")
	m.verdictTimeout = m.verdicts.WithLabelValues("timeout")
	m.decidedWinner = m.decisions.WithLabelValues("winner")
	m.decidedNoWinner = m.decisions.WithLabelValues("no_winner")
	if reg != nil {
		reg.MustRegister(m.submitted, m.itemsIn, m.itemsOut, m.rescattered, m.expired, m.scatterBatches, m.fanoutLatency,
			m.reports, m.rerouted, m.verdicts, m.decisions, m.stragglers, m.gatherLatency,
			m.originDecisions, m.duplicateDecisions, m.rejectedDecisions, m.resentDecisions, m.members, m.sentMessages,
			m.overflows, m.refusedNames, m.cappedDeadlines, m.reportStreams)
	}
	return m
}

func (m *metrics) setMembers(byName map[string]Member) {
	counts := map[Role]int{}
	for _, mem := range byName {
		counts[mem.Role]++
	}
	for _, r := range []Role{RoleRelayOnly, RoleScheduler, RoleLeaderEligible} {
		m.members.WithLabelValues(r.String()).Set(float64(counts[r]))
	}
}
