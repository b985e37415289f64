package alloc

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
)

// BenchmarkAllocatePersisted measures one new allocation with N peers already
// in the pool. Every allocation rewrites and fsyncs the whole state file, so
// the cost grows with N; this shows by how much.
func BenchmarkAllocatePersisted(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			p, err := New(Config{PoolV4: netip.MustParsePrefix("10.0.0.0/8"), StatePath: filepath.Join(b.TempDir(), "peers.json")}, nil)
			if err != nil {
				b.Fatal(err)
			}
			// Fill without persisting each step, then write once.
			p.cfg.StatePath, p.dirty = "", false
			for i := range n {
				if _, _, err := p.Allocate(fmt.Sprintf("prefill-%d", i)); err != nil {
					b.Fatal(err)
				}
			}
			p.cfg.StatePath = filepath.Join(b.TempDir(), "peers.json")
			i := 0
			for b.Loop() {
				if _, _, err := p.Allocate(fmt.Sprintf("new-%d", i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
