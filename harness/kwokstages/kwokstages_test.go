package kwokstages

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestStagesAreKwoksDefaults checks the file names each of kwok's default
// stages once, in documents that parse as YAML.
func TestStagesAreKwoksDefaults(t *testing.T) {
	names := stageNames(t, Stages())
	want := []string{"node-initialize", "node-heartbeat-with-lease", "pod-ready", "pod-complete", "pod-delete"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("stages %v, want %v", names, want)
	}
}

func TestWithParallelism(t *testing.T) {
	text, err := WithParallelism(16)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(text, "\n---\n")
	var cfg struct {
		Kind    string         `json:"kind"`
		Options map[string]any `json:"options"`
	}
	if err := yaml.Unmarshal([]byte(docs[0]), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Kind != "KwokConfiguration" || cfg.Options["nodeLeaseParallelism"] != float64(16) || cfg.Options["podPlayStageParallelism"] != float64(16) {
		t.Fatalf("first document %+v: want a KwokConfiguration with parallelism 16", cfg)
	}
	if got := stageNames(t, strings.Join(docs[1:], "\n---\n")); len(got) != 5 {
		t.Fatalf("stages after the options: %v", got)
	}
	if _, err := WithParallelism(0); err == nil {
		t.Fatal("parallelism 0 accepted")
	}
}

func stageNames(t *testing.T, text string) []string {
	t.Helper()
	var names []string
	for _, doc := range strings.Split(text, "\n---\n") {
		var s struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
			t.Fatalf("document %q: %v", doc, err)
		}
		if s.Kind != "Stage" {
			t.Fatalf("document of kind %q, want Stage", s.Kind)
		}
		names = append(names, s.Metadata.Name)
	}
	return names
}
