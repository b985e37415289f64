package shard

import (
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// handoffNode is a Node labelled for member at resource version rv, marked
// as handed over from `from` when from is not empty.
func handoffNode(name, member, from string, rv int) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: strconv.Itoa(rv), Labels: map[string]string{Label: member}}}
	if from != "" {
		n.Annotations = map[string]string{HandoffAnnotation: from}
	}
	return n
}

// The Adopter's bookkeeping, without an API server (the handover against a
// real one is test/integration's TestNodeHandover): which observed nodes
// are held back, and which events are echoes of a handover it ended.
func TestAdopterPending(t *testing.T) {
	metrics := NewAdoptMetrics(prometheus.NewRegistry())
	a, err := NewAdopter(AdopterConfig{Member: "b", Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	defer a.queue.ShutDown()

	a.Observe(handoffNode("n1", "b", "", 10))
	if a.Pending("n1") {
		t.Fatal("an unmarked node is held back")
	}
	a.Observe(handoffNode("n2", "c", "a", 11))
	if a.Pending("n2") {
		t.Fatal("a node marked for another member is held back")
	}
	a.Observe(handoffNode("n1", "b", "a", 12))
	a.Observe(handoffNode("n1", "b", "a", 13)) // a status update while marked
	if !a.Pending("n1") {
		t.Fatal("a node handed over to this member is not held back")
	}
	if got := testutil.ToFloat64(metrics.pending); got != 1 {
		t.Fatalf("pending gauge = %v, want 1", got)
	}

	// The member removed the mark at resource version 20.
	a.done("n1", 20)
	if a.Pending("n1") || testutil.ToFloat64(metrics.pending) != 0 {
		t.Fatal("an adopted node is still held back")
	}
	a.Observe(handoffNode("n1", "b", "a", 14)) // an older event, delivered late
	if a.Pending("n1") {
		t.Fatal("an echo of the ended handover holds the node back again")
	}
	a.Observe(handoffNode("n1", "b", "", 20)) // the removal itself
	if a.clearedN.Load() != 0 {
		t.Fatal("the removal's own event did not retire its echo guard")
	}
	a.Observe(handoffNode("n1", "b", "c", 30)) // handed over again later
	if !a.Pending("n1") {
		t.Fatal("a second handover is not held back")
	}

	// A node that moved on, or was deleted, ends its hold without a guard.
	a.done("n1", 0)
	if a.Pending("n1") || a.clearedN.Load() != 0 {
		t.Fatal("done without a resource version left a hold or a guard")
	}
}

func TestJSONPointerEscape(t *testing.T) {
	if got, want := jsonPointerEscape("k8s1m.io/dist-scheduler-shard"), "k8s1m.io~1dist-scheduler-shard"; got != want {
		t.Fatalf("jsonPointerEscape = %q, want %q", got, want)
	}
	if got := jsonPointerEscape("a~b/c"); got != "a~0b~1c" {
		t.Fatalf("jsonPointerEscape(a~b/c) = %q, want a~0b~1c", got)
	}
}
