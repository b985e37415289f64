package pods

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

func decode(t *testing.T, body []byte, want schema.GroupVersionKind) runtime.Object {
	t.Helper()
	obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, nil)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if *gvk != want {
		t.Errorf("kind %v, want %v", gvk, want)
	}
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	return obj
}

// The reused pod templates must encode exactly what Build and BuildDeployment
// return, for every index and in any order.
func TestBodiesEqualBuild(t *testing.T) {
	cfg := Config{Prefix: "p-", Namespace: "ns", Count: 100, Skip: 2, SchedulerName: "s",
		CPU: resource.MustParse("100m"), Memory: resource.MustParse("128Mi"), Image: DefaultImage,
		Labels: map[string]string{"x": "y"}}
	b := newBodies(cfg)
	for _, i := range []int{2, 3, 99, 10} {
		body, err := b.body(i)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := decode(t, body, podKind).(*corev1.Pod), cfg.Build(i); !apiequality.Semantic.DeepEqual(got, want) {
			t.Errorf("pod %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	cfg.Skip, cfg.Deployments = 0, 3
	b = newBodies(cfg)
	for _, i := range []int{0, 2, 1} {
		body, err := b.body(i)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := decode(t, body, deploymentKind).(*appsv1.Deployment), cfg.BuildDeployment(i); !apiequality.Semantic.DeepEqual(got, want) {
			t.Errorf("deployment %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
}

func TestDeleteOptions(t *testing.T) {
	for _, gvr := range []schema.GroupVersionResource{{Version: "v1", Resource: "pods"}, {Group: "apps", Version: "v1", Resource: "deployments"}} {
		body, err := deleteOptions(gvr)
		if err != nil {
			t.Fatal(err)
		}
		got := decode(t, body, gvr.GroupVersion().WithKind("DeleteOptions")).(*metav1.DeleteOptions)
		if got.GracePeriodSeconds == nil || *got.GracePeriodSeconds != 0 {
			t.Errorf("%s: grace period %v, want 0", gvr.Resource, got.GracePeriodSeconds)
		}
	}
}
