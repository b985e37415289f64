package relay

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseGossipKey(t *testing.T) {
	for _, n := range []int{16, 24, 32} {
		if k, err := ParseGossipKey(" " + base64.StdEncoding.EncodeToString(make([]byte, n)) + "\n"); err != nil || len(k) != n {
			t.Errorf("%d-byte key: %d bytes, %v", n, len(k), err)
		}
	}
	for in, want := range map[string]string{
		"!!!": "not base64",
		base64.StdEncoding.EncodeToString(make([]byte, 10)): "key is 10 bytes, want 16, 24 or 32",
		"": "key is 0 bytes",
	} {
		if _, err := ParseGossipKey(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseGossipKey(%q) = %v, want an error saying %q", in, err, want)
		}
	}
}

func TestLoadGossipKeys(t *testing.T) {
	dir := t.TempDir()
	k16 := base64.StdEncoding.EncodeToString(make([]byte, 16))
	k32 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name    string
		content string
		keys    int
		wantErr bool
	}{
		{"one key", k32 + "\n", 1, false},
		{"rotation", "# primary first\n" + k16 + "\n\n" + k32 + "\n", 2, false},
		{"empty", "# nothing\n", 0, true},
		{"not base64", "!!!\n", 0, true},
		{"bad size", base64.StdEncoding.EncodeToString(make([]byte, 10)) + "\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			keys, err := LoadGossipKeys(p)
			if (err != nil) != tc.wantErr || len(keys) != tc.keys {
				t.Fatalf("keys %d, err %v", len(keys), err)
			}
		})
	}
	if _, err := LoadGossipKeys(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file: no error")
	}
}
