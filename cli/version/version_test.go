package version

import (
	"strings"
	"testing"
)

func TestOverrideWins(t *testing.T) {
	t.Cleanup(func() { override, revisionOverride = "", "" })
	override, revisionOverride = "v0.0.1", "abc123"
	got := Get()
	if got.Version != "v0.0.1" || got.Revision != "abc123" || got.Modified {
		t.Fatalf("override not applied: %+v", got)
	}
	if s := got.String(); !strings.Contains(s, "v0.0.1") || !strings.Contains(s, "abc123") {
		t.Fatalf("String() = %q, want version and revision", s)
	}
}

func TestDefaultsFromBuildInfo(t *testing.T) {
	got := Get()
	if got.Module == "" || got.Version == "" || got.GoVersion == "" {
		t.Fatalf("empty fields: %+v", got)
	}
}
