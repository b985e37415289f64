package pods

import (
	"sync"

	"github.com/k8s1m/k8s1m/makenodes/kube"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	podKind        = corev1.SchemeGroupVersion.WithKind("Pod")
	deploymentKind = appsv1.SchemeGroupVersion.WithKind("Deployment")
)

// bodies encodes the request bodies of a run's pods or Deployments. Bare pods
// differ only in their name, so each worker takes a pod built once from the
// pool, renames it and encodes it, instead of building a new Pod (with its
// maps and slices) per index. Deployments (few, each with its own replicas
// and selector) are built one by one.
type bodies struct {
	cfg  Config
	pool sync.Pool // of *corev1.Pod built by cfg.Build
}

func newBodies(cfg Config) *bodies {
	b := &bodies{cfg: cfg}
	b.pool.New = func() any { return cfg.Build(cfg.Skip) }
	return b
}

// body is pod (or Deployment) i encoded for a create request; it equals
// cfg.Build(i) (cfg.BuildDeployment(i)) encoded.
func (b *bodies) body(i int) ([]byte, error) {
	if b.cfg.Deployments > 0 {
		return kube.EncodeProtobuf(b.cfg.BuildDeployment(i), deploymentKind)
	}
	p := b.pool.Get().(*corev1.Pod)
	defer b.pool.Put(p)
	p.Name = b.cfg.Name(i)
	return kube.EncodeProtobuf(p, podKind)
}

// deleteOptions is the body of every delete of gvr: grace period 0 (there is
// no kubelet to wait for, and kwok would delete the pod at once anyway),
// encoded once for the whole run.
func deleteOptions(gvr schema.GroupVersionResource) ([]byte, error) {
	zero := int64(0)
	return kube.EncodeProtobuf(&metav1.DeleteOptions{GracePeriodSeconds: &zero}, gvr.GroupVersion().WithKind("DeleteOptions"))
}
