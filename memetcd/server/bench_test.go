package server_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/k8s1m/k8s1m/memetcd/memetcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// BenchmarkPutVsEtcd puts 256-byte values through clientv3 with 1 and 64
// concurrent clients, against in-process memetcd (no WAL) and the real etcd
// binary (skipped when bin/etcd is missing). Compare the two in one run:
// both share this machine's cores with the clients.
func BenchmarkPutVsEtcd(b *testing.B) {
	targets := []struct {
		name  string
		start func(b *testing.B) string
	}{
		{"memetcd", func(b *testing.B) string { return memetcdtest.Start(b, memetcdtest.Options{}).Endpoint }},
		{"etcd", func(b *testing.B) string { return memetcdtest.StartEtcd(b) }},
	}
	val := string(make([]byte, 256))
	for _, tg := range targets {
		for _, clients := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/clients=%d", tg.name, clients), func(b *testing.B) {
				ep := tg.start(b)
				conns := make([]*clientv3.Client, min(clients, 8))
				for i := range conns {
					c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, Logger: zap.NewNop()})
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					conns[i] = c
				}
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for w := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c := conns[w%len(conns)]
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							if _, err := c.Put(context.Background(), fmt.Sprintf("/registry/leases/kube-node-lease/node-%06d", i%10000), val); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
			})
		}
	}
}

// BenchmarkPutWithResourceWatchers puts Lease-sized values while 70 watch
// streams each watch their own /registry/<resource>/ prefix with prevKV, as
// kube-apiserver does (one etcd client, so one stream, per resource). Only
// the stream of the written prefix has anything to send; ns/op is what the
// others cost on top (in-process: server and clients share the figure).
func BenchmarkPutWithResourceWatchers(b *testing.B) {
	const resources = 70
	inst := memetcdtest.Start(b, memetcdtest.Options{})
	newClient := func() *clientv3.Client {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{inst.Endpoint}, Logger: zap.NewNop()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var received atomic.Int64
	for r := range resources {
		wc := newClient().Watch(ctx, fmt.Sprintf("/registry/resource-%02d/", r), clientv3.WithPrefix(), clientv3.WithPrevKV())
		go func() {
			for resp := range wc {
				received.Add(int64(len(resp.Events)))
			}
		}()
	}
	writer := newClient()
	val := string(make([]byte, 400))
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 16 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if _, err := writer.Put(ctx, fmt.Sprintf("/registry/resource-07/ns/node-%06d", i%10000), val); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
