package check

import (
	"reflect"
	"testing"
)

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (verb) (rate(apiserver_request_total{code="429"}[$__rate_interval]))`:                        {"apiserver_request_total"},
		`histogram_quantile(0.99, sum by (le, grpc_method) (rate(grpc_server_handling_seconds_bucket[5m])))`: {"grpc_server_handling_seconds_bucket"},
		`wggateway_alloc_allocations / wggateway_alloc_pool_addresses`:                                       {"wggateway_alloc_allocations", "wggateway_alloc_pool_addresses"},
		`max by (role) (relay_members) > bool 0`:                                                             {"relay_members"},
		`rate(a_total[1m]) + on (instance) group_left (x) b_info`:                                            {"a_total", "b_info"},
	} {
		if got := MetricNames(expr); !reflect.DeepEqual(got, want) {
			t.Errorf("MetricNames(%q) = %v, want %v", expr, got, want)
		}
	}
}
