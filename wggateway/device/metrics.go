package device

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the interface. A nil *Metrics records nothing.
type Metrics struct {
	peers prometheus.Gauge
}

// NewMetrics registers the device metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{peers: prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "wggateway_device_peers",
		Help: "Peers configured on the WireGuard interface.",
	})}
	reg.MustRegister(m.peers)
	return m
}

func (m *Metrics) setPeers(n int) {
	if m != nil {
		m.peers.Set(float64(n))
	}
}
