package nodes

import (
	"strconv"
	"sync"

	"github.com/k8s1m/k8s1m/makenodes/kube"
	corev1 "k8s.io/api/core/v1"
)

var nodeKind = corev1.SchemeGroupVersion.WithKind("Node")

// bodies encodes the request bodies of a run's nodes. Nodes differ only in
// their name, hostname label and group label, so instead of building a new
// Node (with its maps) per index, each worker takes a node built once from the
// pool, sets those three fields and encodes it.
type bodies struct {
	cfg  Config
	pool sync.Pool // of *corev1.Node built by cfg.Build
}

func newBodies(cfg Config) *bodies {
	b := &bodies{cfg: cfg}
	b.pool.New = func() any { return cfg.Build(cfg.Skip) }
	return b
}

// body is node i encoded for a create request; it equals cfg.Build(i) encoded.
func (b *bodies) body(i int) ([]byte, error) {
	n := b.pool.Get().(*corev1.Node)
	defer b.pool.Put(n)
	name := b.cfg.Name(i)
	n.Name = name
	n.Labels[corev1.LabelHostname] = name
	n.Labels[GroupLabel] = strconv.Itoa(b.cfg.Group(i))
	return kube.EncodeProtobuf(n, nodeKind)
}
