package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	admissionv1 "k8s.io/api/admission/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// benchNodeReview is the AdmissionReview the API server sends for the
// creation of a node like localcluster's (labels, annotations, capacity,
// one managed-fields entry), as JSON.
func benchNodeReview(b *testing.B, i int) []byte {
	b.Helper()
	name := fmt.Sprintf("lc-node-%06d", i)
	capacity := v1.ResourceList{v1.ResourceCPU: resource.MustParse("32"), v1.ResourceMemory: resource.MustParse("256Gi"),
		v1.ResourcePods: resource.MustParse("110")}
	n := v1.Node{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(fmt.Sprintf("0b4f6a3e-5c1d-4e0f-9a7b-%012d", i)),
			CreationTimestamp: metav1.Now(),
			Labels: map[string]string{"k8s1m.io/localcluster": "true", "kwok.x-k8s.io/group": "0", "type": "kwok",
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"topology.kubernetes.io/region": "local", "topology.kubernetes.io/zone": "local-1"},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "localcluster", Operation: metav1.ManagedFieldsOperationUpdate,
				APIVersion: "v1", Time: ptrNow(), FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(
					`{"f:metadata":{"f:annotations":{".":{},"f:kwok.x-k8s.io/node":{},"f:node.alpha.kubernetes.io/ttl":{}},` +
						`"f:labels":{".":{},"f:k8s1m.io/localcluster":{},"f:kubernetes.io/arch":{},"f:kubernetes.io/hostname":{},` +
						`"f:kubernetes.io/os":{},"f:kwok.x-k8s.io/group":{},"f:topology.kubernetes.io/region":{},` +
						`"f:topology.kubernetes.io/zone":{},"f:type":{}}},"f:status":{"f:allocatable":{".":{},"f:cpu":{},` +
						`"f:memory":{},"f:pods":{}},"f:capacity":{".":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:phase":{}}}`)}}},
		Status: v1.NodeStatus{Capacity: capacity, Allocatable: capacity, Phase: v1.NodeRunning},
	}
	raw, err := json.Marshal(n)
	if err != nil {
		b.Fatal(err)
	}
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: types.UID(fmt.Sprintf("req-%d", i)),
			Kind:     metav1.GroupVersionKind{Version: "v1", Kind: "Node"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "nodes"}, Name: name,
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
			Options: runtime.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}`)}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func ptrNow() *metav1.Time { t := metav1.Now(); return &t }

// cpuTime is this process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkNodeReview posts node reviews to a running webhook from 16
// concurrent clients, as the API server does while nodes are created (with
// localcluster's 16 creating workers), over HTTP/2 and over HTTP/1.1. The
// process's CPU per review (cpu-µs/review) is both ends' cost: the
// member's (TLS, HTTP, decoding, the answer) and a client's HTTP and TLS
// (the API server's share of the call; its JSON work is not in it).
//
//	go test -run '^$' -bench NodeReview -benchtime 20000x ./webhook
func BenchmarkNodeReview(b *testing.B) {
	s, err := Start(Config{Addr: "127.0.0.1:0", ShardLabel: "k8s1m.io/dist-scheduler-shard", Offer: func(*v1.Pod) {},
		AssignNode: func(string, map[string]string) (string, bool) { return "scheduler-0", true }, Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close(context.Background()) }()
	bodies := make([][]byte, 256)
	for i := range bodies {
		bodies[i] = benchNodeReview(b, i)
	}
	for _, h2 := range []bool{true, false} {
		b.Run(fmt.Sprintf("http2=%v", h2), func(b *testing.B) {
			tr := trustingTransport(b, s)
			tr.ForceAttemptHTTP2, tr.MaxIdleConnsPerHost = h2, 25
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			var next atomic.Int64
			b.SetParallelism(8) // 16 clients on 2 cores
			start := cpuTime(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					body := bodies[next.Add(1)%int64(len(bodies))]
					resp, err := client.Post(s.NodeURL(), "application/json", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
						b.Errorf("status %d, %v", resp.StatusCode, err)
					}
					resp.Body.Close()
				}
			})
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-start).Microseconds())/float64(b.N), "cpu-µs/review")
		})
	}
}

// BenchmarkDecodeNodeReview is the node webhook's decoding of one review
// alone.
func BenchmarkDecodeNodeReview(b *testing.B) {
	body := benchNodeReview(b, 1)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for range b.N {
		var rev nodeReview
		if err := json.Unmarshal(body, &rev); err != nil || rev.Request == nil {
			b.Fatal(err)
		}
	}
}
