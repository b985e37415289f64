package shard

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the shard controller's Prometheus metrics (leader only).
type Metrics struct {
	moves     prometheus.Counter
	podLabels prometheus.Counter
	assigned  prometheus.Counter
	sizes     *prometheus.GaugeVec

	mu   sync.Mutex // guards last
	last map[string]bool
}

// NewMetrics registers the shard metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		moves: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distscheduler_shard_moves_total",
			Help: "Node label changes the leader made to keep shards even.",
		}),
		podLabels: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distscheduler_shard_pod_label_patches_total",
			Help: "Shard labels the leader wrote on bound pods that had none (created with a nodeName, or bound by another scheduler).",
		}),
		assigned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distscheduler_shard_webhook_assigned_nodes_total",
			Help: "Nodes given their shard label while being created (node admission webhook), with no second write.",
		}),
		sizes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "distscheduler_shard_assigned_nodes",
			Help: "Nodes the leader assigned to each scheduling member.",
		}, []string{"member"}),
		last: map[string]bool{},
	}
	reg.MustRegister(m.moves, m.podLabels, m.assigned, m.sizes)
	return m
}

func (m *Metrics) setSizes(members []string, counts map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := make(map[string]bool, len(members))
	for _, mem := range members {
		now[mem] = true
		m.sizes.WithLabelValues(mem).Set(float64(counts[mem]))
	}
	for mem := range m.last {
		if !now[mem] {
			m.sizes.DeleteLabelValues(mem)
		}
	}
	m.last = now
}

// AdoptMetrics are a scheduling member's handover metrics (Adopter).
type AdoptMetrics struct {
	pending   prometheus.Gauge
	adopted   prometheus.Counter
	podLabels prometheus.Counter
	released  prometheus.Counter
}

// NewAdoptMetrics registers the handover metrics on reg.
func NewAdoptMetrics(reg prometheus.Registerer) *AdoptMetrics {
	m := &AdoptMetrics{
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "distscheduler_shard_handoff_pending_nodes",
			Help: "Nodes handed over to this member whose pods it has not adopted yet; its searches pass over them.",
		}),
		adopted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distscheduler_shard_handoff_adopted_nodes_total",
			Help: "Handed-over nodes this member adopted: every pod on them labelled for it and in its cache.",
		}),
		podLabels: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distscheduler_shard_handoff_pod_label_patches_total",
			Help: "Shard labels this member wrote on the pods of nodes handed over to it.",
		}),
		released: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distscheduler_shard_handoff_released_pods_total",
			Help: "Pods this member bound to nodes it had lost meanwhile (a Binding that raced a move), given the label of the node's new member.",
		}),
	}
	reg.MustRegister(m.pending, m.adopted, m.podLabels, m.released)
	return m
}

// Released is the counter of pods handed on by a Releaser (tests).
func (m *AdoptMetrics) Released() prometheus.Counter { return m.released }
