package store

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkMemoryPerKey stores b.N keys shaped like Kubernetes objects (keys
// like /registry/pods/<ns>/<name>, values of the given size), compacts so no
// history is kept, and reports heap bytes per key against the raw key+value
// bytes. The goal is heap/raw <= 1.5.
func BenchmarkMemoryPerKey(b *testing.B) {
	for _, size := range []int{1024, 4096} {
		b.Run(fmt.Sprintf("value=%d", size), func(b *testing.B) {
			n := b.N
			// Each key and value is allocated fresh inside the measurement,
			// as gRPC hands the store freshly decoded slices it keeps.
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			s := New(Config{})
			defer s.Close()
			raw := 0
			for i := range n {
				key := fmt.Appendf(nil, "/registry/pods/ns-%04d/pod-%08d", i%1000, i)
				val := make([]byte, size)
				val[0] = byte(i)
				raw += len(key) + len(val)
				if _, _, err := s.Put(&PutRequest{Key: key, Value: val}); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := s.Compact(s.Rev()); err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
			b.ReportMetric(heap/float64(n), "heap-B/key")
			b.ReportMetric(float64(raw)/float64(n), "raw-B/key")
			b.ReportMetric(heap/float64(raw), "heap/raw")
			runtime.KeepAlive(s)
		})
	}
}

// BenchmarkPut measures the store's write path alone (no gRPC, no journal).
func BenchmarkPut(b *testing.B) {
	s := New(Config{})
	defer s.Close()
	val := make([]byte, 256)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, err := s.Put(&PutRequest{Key: fmt.Appendf(nil, "/registry/leases/kube-node-lease/node-%06d", i%100000), Value: val}); err != nil {
			b.Fatal(err)
		}
	}
}
