package auth

import "github.com/prometheus/client_golang/prometheus"

// Metrics of authentication. A nil *Metrics records nothing.
type Metrics struct {
	failures *prometheus.CounterVec
}

// NewMetrics registers the auth metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{failures: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wggateway_auth_failures_total",
		Help: "Requests refused by authentication, by reason (missing, wrong, rate_limited).",
	}, []string{"reason"})}
	for _, r := range []Result{Missing, Wrong, Limited} {
		m.failures.WithLabelValues(r.String())
	}
	reg.MustRegister(m.failures)
	return m
}

func (m *Metrics) failure(r Result) {
	if m != nil {
		m.failures.WithLabelValues(r.String()).Inc()
	}
}
