package wal

import "testing"

func TestRoutingRoute(t *testing.T) {
	r := Routing{
		Default:      ModeFsync,
		ResourceRoot: DefaultResourceRoot,
		Prefixes: map[string]Mode{
			"/registry/events/":         ModeNone,
			"/registry/":                ModeBuffered,
			"/registry/pods/hot/":       ModeFsync,
			"/registry/leases/kube-nod": ModeNone, // longer than the resource prefix: it names the file
		},
	}
	r.compile()
	tests := []struct {
		key        string
		wantPrefix string
		wantMode   Mode
	}{
		{"/registry/pods/default/web-1", "/registry/pods/", ModeBuffered},
		{"/registry/pods/hot/a", "/registry/pods/hot/", ModeFsync},
		{"/registry/events/default/e1", "/registry/events/", ModeNone},
		{"/registry/leases/kube-node-lease/n1", "/registry/leases/kube-nod", ModeNone},
		{"/registry/leases/other/n1", "/registry/leases/", ModeBuffered},
		{"/registry/apiextensions.k8s.io/customresourcedefinitions/x", "/registry/apiextensions.k8s.io/customresourcedefinitions/", ModeBuffered},
		{"/registry/example.com/widgets/ns/w", "/registry/example.com/widgets/", ModeBuffered},
		{"/registry/example.com", "/registry/", ModeBuffered}, // group with no resource: only the configured prefix
		{"/registry/health", "/registry/", ModeBuffered},      // no second segment
		{"/other/key", "", ModeFsync},                         // outside the root: catch-all, default mode
		{"", "", ModeFsync},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			p, m := r.Route([]byte(tt.key))
			if string(p) != tt.wantPrefix || m != tt.wantMode {
				t.Errorf("Route(%q) = %q, %v; want %q, %v", tt.key, p, m, tt.wantPrefix, tt.wantMode)
			}
		})
	}
}

func TestRoutingNoResourceRoot(t *testing.T) {
	r := Routing{Default: ModeBuffered}
	r.compile()
	if p, m := r.Route([]byte("/registry/pods/a")); string(p) != "" || m != ModeBuffered {
		t.Errorf("got %q %v, want catch-all buffered", p, m)
	}
}

func TestParsePrefixModes(t *testing.T) {
	tests := []struct {
		name    string
		pairs   []string
		noWrite []string
		want    map[string]Mode
		wantErr bool
	}{
		{name: "empty", want: map[string]Mode{}},
		{name: "pairs and no-write", pairs: []string{"/registry/events/=none", "/registry/pods/=fsync", "/a=b/=buffered"},
			noWrite: []string{"/tmp/"},
			want:    map[string]Mode{"/registry/events/": ModeNone, "/registry/pods/": ModeFsync, "/a=b/": ModeBuffered, "/tmp/": ModeNone}},
		{name: "bad mode", pairs: []string{"/x/=sometimes"}, wantErr: true},
		{name: "no equals", pairs: []string{"/x/"}, wantErr: true},
		{name: "empty prefix", pairs: []string{"=fsync"}, wantErr: true},
		{name: "duplicate", pairs: []string{"/x/=fsync"}, noWrite: []string{"/x/"}, wantErr: true},
		{name: "empty no-write", noWrite: []string{""}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrefixModes(tt.pairs, tt.noWrite)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%q: got %v want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{ModeNone, ModeBuffered, ModeFsync} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseMode("FSYNC"); err == nil {
		t.Error("ParseMode accepted FSYNC")
	}
}
