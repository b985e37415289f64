package intake

import (
	"github.com/k8s1m/k8s1m/distscheduler/podpath"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the intake's Prometheus metrics (on the leader).
type Metrics struct {
	submitted   prometheus.Counter
	resubmitted *prometheus.CounterVec
	decisions   *prometheus.CounterVec
	inFlight    prometheus.Gauge
	pending     prometheus.Gauge
	offers      *prometheus.CounterVec
}

// NewMetrics registers the intake's metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		submitted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distscheduler_intake_submitted_items_total",
			Help: "Tree items the leader submitted, one per pod attempt.",
		}),
		resubmitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distscheduler_intake_resubmitted_pods_total",
			Help: "Pods submitted again: no_winner (nobody could place it, after backoff), given_back (its winner's binding steps failed), winner_left (its winner left the tree before binding it), unbound_winner (still pending Recheck after a win) or no_decision (its item had no decision Recheck after submission: a tree fault).",
		}, []string{"reason"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distscheduler_intake_decisions_total",
			Help: "Decisions of the leader's items by result (winner, no_winner).",
		}, []string{"result"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "distscheduler_intake_in_flight_items",
			Help: "Items submitted and not yet decided.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "distscheduler_intake_pending_pods",
			Help: "Unassigned pods of distscheduler's scheduler names the leader knows of.",
		}),
		offers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distscheduler_intake_webhook_offers_total",
			Help: "Pods the admission webhook offered: new (submitted before the watch saw them), known (the watch was first), expired (never seen by the watch; forgotten).",
		}, []string{"result"}),
	}
	for _, r := range podpath.Reasons {
		m.resubmitted.WithLabelValues(string(r))
	}
	if reg != nil {
		reg.MustRegister(m.submitted, m.resubmitted, m.decisions, m.inFlight, m.pending, m.offers)
	}
	return m
}
