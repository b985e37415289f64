package nodes

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// The reused node templates must encode exactly the node Build returns, for
// every index and in any order (a template carries the previous node's fields).
func TestBodiesEqualBuild(t *testing.T) {
	f := DefaultShapeFlags()
	f.Labels = []string{"zone=a"}
	shape, err := f.Parse()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Prefix: "n-", Count: 250, Skip: 3, PerKwokGroup: 10, Shape: shape}
	b := newBodies(cfg)
	for _, i := range []int{3, 4, 9, 10, 249, 100, 5} {
		body, err := b.body(i)
		if err != nil {
			t.Fatal(err)
		}
		obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, nil)
		if err != nil {
			t.Fatalf("node %d: decode: %v", i, err)
		}
		if *gvk != nodeKind {
			t.Errorf("node %d: kind %v", i, gvk)
		}
		obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		if want := cfg.Build(i); !apiequality.Semantic.DeepEqual(obj.(*corev1.Node), want) {
			t.Errorf("node %d:\n got %+v\nwant %+v", i, obj, want)
		}
	}
}
