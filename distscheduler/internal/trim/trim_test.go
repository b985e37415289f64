package trim

import (
	"fmt"
	"testing"
	"unsafe"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPackLaysNamesSideBySide(t *testing.T) {
	var a Names
	var prev string
	for i := range 10000 {
		name := fmt.Sprintf("lc-node-%06d", i)
		got := a.Pack(name)
		if got != name {
			t.Fatalf("Pack(%q) = %q", name, got)
		}
		if i > 0 && i%(chunkSize/len(name)) != 0 {
			// Within a chunk each name starts where the one before ended.
			if want := uintptr(unsafe.Pointer(unsafe.StringData(prev))) + uintptr(len(prev)); uintptr(unsafe.Pointer(unsafe.StringData(got))) != want {
				t.Fatalf("name %d not right after name %d", i, i-1)
			}
		}
		prev = got
	}
	long := string(make([]byte, maxPacked+1))
	if got := a.Pack(long); unsafe.StringData(got) != unsafe.StringData(long) {
		t.Fatal("a name longer than maxPacked was copied")
	}
	if got := a.Pack(""); got != "" {
		t.Fatalf("Pack(\"\") = %q", got)
	}
}

func TestNodes(t *testing.T) {
	var a Names
	held := map[string]bool{"old": true}
	tr := Nodes(&a, func(n string) bool { return held[n] })
	node := func(name string) *v1.Node {
		return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"k": "v"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate}}}}
	}

	newNode := node("new")
	before := unsafe.StringData(newNode.Name)
	out, err := tr(newNode)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*v1.Node)
	if got.ManagedFields != nil || got.Name != "new" || got.Labels["k"] != "v" {
		t.Fatalf("transformed new node: %+v", got.ObjectMeta)
	}
	if unsafe.StringData(got.Name) == before {
		t.Fatal("the name of a node not held yet was not packed")
	}

	oldNode := node("old")
	before = unsafe.StringData(oldNode.Name)
	out, _ = tr(oldNode)
	if got := out.(*v1.Node); got.ManagedFields != nil || unsafe.StringData(got.Name) != before {
		t.Fatalf("an update: managed fields %v, name repacked %v", got.ManagedFields, unsafe.StringData(got.Name) != before)
	}

	other := &v1.Pod{}
	if out, _ := tr(other); out != other {
		t.Fatal("a non-Node object was changed")
	}
}

func TestManagedFields(t *testing.T) {
	m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"k": "v"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}}}
	out, err := ManagedFields(m)
	if err != nil || out != m || m.ManagedFields != nil || m.Labels["k"] != "v" {
		t.Fatalf("ManagedFields: %v, %v, %+v", out, err, m.ObjectMeta)
	}
	if out, err := ManagedFields("not an object"); err != nil || out != "not an object" {
		t.Fatalf("a non-object: %v, %v", out, err)
	}
}
