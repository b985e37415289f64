package kwok

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/k8s1m/k8s1m/harness/kwokstages"
	"k8s.io/apimachinery/pkg/util/yaml"
)

func TestStagesAreKwokStages(t *testing.T) {
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(kwokstages.Stages()), 4096)
	var names []string
	for {
		var doc struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind != "Stage" {
			t.Fatalf("document of kind %q", doc.Kind)
		}
		names = append(names, doc.Metadata.Name)
	}
	want := "node-initialize node-heartbeat-with-lease pod-ready pod-complete pod-delete"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("stages = %q, want %q", got, want)
	}
}

// TestDeployManifestIsFresh keeps deploy/kwok.yaml equal to what the code
// renders for a million nodes; regenerate with:
//
//	go run ./cmd/makenodes kwok manifest > deploy/kwok.yaml
func TestDeployManifestIsFresh(t *testing.T) {
	want, err := Manifest(ManifestConfig{Replicas: 100})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../deploy/kwok.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("deploy/kwok.yaml is stale: go run ./cmd/makenodes kwok manifest > deploy/kwok.yaml")
	}
}

func TestArgs(t *testing.T) {
	args := Flags{Kubeconfig: "/k", Stages: "/s", ServerAddress: "127.0.0.1:1", Group: "7", LeaseSeconds: 40, CIDR: "10.7.0.0/16"}.Args()
	joined := strings.Join(args, " ")
	for _, want := range []string{"--manage-all-nodes=false", "--manage-nodes-with-label-selector=kwok-group=7",
		"--node-lease-duration-seconds=40", "--config=/s", "--kubeconfig=/k"} {
		if !strings.Contains(joined, want) {
			t.Errorf("args lack %q: %s", want, joined)
		}
	}
}
