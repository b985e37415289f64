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
			Help: "Shard labels the leader wrote on bound pods: pods not bound by a member, and pods on nodes that moved.",
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
