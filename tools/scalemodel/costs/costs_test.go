package costs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoFile is the data file the model ships with.
var repoFile = filepath.Join("..", "..", "..", DefaultPath)

func TestRepoFileLoads(t *testing.T) {
	f, err := Load(repoFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Runs) == 0 {
		t.Fatal("no localcluster runs to check the model against")
	}
}

// TestParseRefusesBadFiles edits the repository's file the ways a hand edit
// can go wrong and checks each is refused with an error naming the figure.
func TestParseRefusesBadFiles(t *testing.T) {
	good, err := os.ReadFile(repoFile)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(change func(figures map[string]any, doc map[string]any)) []byte {
		var doc map[string]any
		if err := json.Unmarshal(good, &doc); err != nil {
			t.Fatal(err)
		}
		change(doc["figures"].(map[string]any), doc)
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"not JSON", []byte("{"), "decode"},
		{"misspelt figure", edit(func(f, _ map[string]any) { f["sched_fixd_ms"] = f["sched_fixed_ms"] }), "sched_fixd_ms"},
		{"figure missing", edit(func(f, _ map[string]any) { delete(f, "store_serial_us") }), "store_serial_us"},
		{"zero value", edit(func(f, _ map[string]any) { f["sched_fixed_ms"].(map[string]any)["value"] = 0 }), "sched_fixed_ms"},
		{"no source", edit(func(f, _ map[string]any) { f["api_pod_create_ms"].(map[string]any)["source"] = "" }), "api_pod_create_ms"},
		{"share above 1", edit(func(f, _ map[string]any) { f["sched_serial_share"].(map[string]any)["value"] = 1.5 }), "sched_serial_share"},
		{"run without size", edit(func(_, d map[string]any) {
			d["localcluster_runs"].([]any)[0].(map[string]any)["nodes"] = 0
		}), "localcluster run 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse: got %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestLoadMissingFileSaysWhich(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.json"))
	if err == nil || !strings.Contains(err.Error(), "none.json") {
		t.Fatalf("got %v, want an error naming the file", err)
	}
}

// TestZeroOnlyWhereAllowed: member_pod_events may drop to zero (members no
// longer watching pods); a cost such as F may not.
func TestZeroOnlyWhereAllowed(t *testing.T) {
	f, err := Load(repoFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Figures.Set("member_pod_events", 0); err != nil {
		t.Errorf("member_pod_events = 0 refused: %v", err)
	}
	if err := f.Figures.Set("sched_fixed_ms", 0); err == nil {
		t.Error("sched_fixed_ms = 0 accepted")
	}
	if err := f.Figures.Set("no_such_figure", 1); err == nil || !strings.Contains(err.Error(), "no_such_figure") {
		t.Errorf("unknown figure: got %v", err)
	}
}
