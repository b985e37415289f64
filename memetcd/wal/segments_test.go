package wal

import (
	"strings"
	"testing"
)

func TestSegmentNames(t *testing.T) {
	long := "/registry/" + strings.Repeat("a.very.long.api.group.example.com.", 5) + "/widgets/"
	tests := []struct {
		prefix string
		want   string // "" to only check the round trip and length
	}{
		{"", "p"},
		{"/registry/pods/", "p2f72656769737472792f706f64732f"},
		{long, ""},
		{long + "x/", ""},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		route := routeName([]byte(tt.prefix))
		if tt.want != "" && route != tt.want {
			t.Errorf("routeName(%q) = %q, want %q", tt.prefix, route, tt.want)
		}
		if seen[route] {
			t.Errorf("routeName(%q) = %q collides", tt.prefix, route)
		}
		seen[route] = true
		name := segmentName(route, 7)
		if len(name) > 255 {
			t.Errorf("file name of %d bytes", len(name))
		}
		gotRoute, index, ok := parseSegmentName(name)
		if !ok || gotRoute != route || index != 7 {
			t.Errorf("parse(%q) = %q, %d, %v", name, gotRoute, index, ok)
		}
	}
	for _, bad := range []string{"p.wal", "pzz.0000000000000001.wal", "x.0000000000000001.wal", "p.1.wal",
		"p00-xyz.0000000000000001.wal", "snap-0000000000000001.snap", "meta.000000000000000g.wal"} {
		if _, _, ok := parseSegmentName(bad); ok {
			t.Errorf("parseSegmentName accepted %q", bad)
		}
	}
	if seq, ok := parseSnapshotName(snapshotName(42)); !ok || seq != 42 {
		t.Errorf("snapshot name round trip: %d %v", seq, ok)
	}
}
