package shard

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestShardLabelChanged(t *testing.T) {
	node := func(labels map[string]string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: labels}}
	}
	cases := []struct {
		name     string
		old, cur any
		want     bool
	}{
		{"heartbeat: same labels", node(map[string]string{Label: "a", "x": "1"}), node(map[string]string{Label: "a", "x": "1"}), false},
		{"other label changed", node(map[string]string{Label: "a", "x": "1"}), node(map[string]string{Label: "a", "x": "2"}), false},
		{"moved", node(map[string]string{Label: "a"}), node(map[string]string{Label: "b"}), true},
		{"removed", node(map[string]string{Label: "a"}), node(nil), true},
		{"set to empty", node(nil), node(map[string]string{Label: ""}), true},
		{"labelled", node(nil), node(map[string]string{Label: "a"}), true},
		{"not metadata", "x", node(nil), true},
	}
	for _, c := range cases {
		if got := shardLabelChanged(c.old, c.cur); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
