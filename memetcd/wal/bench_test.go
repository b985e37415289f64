package wal

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/k8s1m/k8s1m/memetcd/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// BenchmarkStorePut measures the WAL's cost on the write path without gRPC:
// the real store, puts of 256-byte values from 1, 16 or 64 goroutines, each
// waiting for its Waiter as the gRPC handler does.
//
//	go test -run XXX -bench StorePut ./wal
func BenchmarkStorePut(b *testing.B) {
	value := []byte(strings.Repeat("v", 256))
	for _, mode := range []Mode{ModeNone, ModeBuffered, ModeFsync} {
		for _, clients := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/clients=%d", mode, clients), func(b *testing.B) {
				cfg := Config{Dir: b.TempDir(), Routing: Routing{Default: mode, ResourceRoot: DefaultResourceRoot}}
				w, err := Open(cfg, zerolog.Nop(), prometheus.NewRegistry())
				if err != nil {
					b.Fatal(err)
				}
				st := store.New(store.Config{Journal: w})
				if err := w.Replay(st); err != nil {
					b.Fatal(err)
				}
				defer func() { st.Close(); w.Close() }()
				var n atomic.Int64
				b.SetBytes(int64(len(value)))
				b.ResetTimer()
				var wg sync.WaitGroup
				for range clients {
					wg.Go(func() {
						for {
							i := n.Add(1)
							if i > int64(b.N) {
								return
							}
							_, wt, err := st.Put(&store.PutRequest{Key: fmt.Appendf(nil, "/registry/pods/ns/k%d", i%10000), Value: value})
							if err == nil {
								err = wt.Wait(context.Background())
							}
							if err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			})
		}
	}
}
