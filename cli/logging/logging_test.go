package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
		check   func(t *testing.T, out string)
	}{
		{name: "json default", cfg: Config{}, check: func(t *testing.T, out string) {
			var m map[string]any
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("not JSON: %q: %v", out, err)
			}
			if m["message"] != "hello" || m["k"] != "v" {
				t.Fatalf("fields missing: %v", m)
			}
		}},
		{name: "console", cfg: Config{Format: FormatConsole}, check: func(t *testing.T, out string) {
			if strings.HasPrefix(out, "{") || !strings.Contains(out, "hello") {
				t.Fatalf("not console output: %q", out)
			}
		}},
		{name: "level filters", cfg: Config{Level: "warn"}, check: func(t *testing.T, out string) {
			if out != "" {
				t.Fatalf("info logged at warn level: %q", out)
			}
		}},
		{name: "bad format", cfg: Config{Format: "xml"}, wantErr: true},
		{name: "bad level", cfg: Config{Level: "loud"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := New(tt.cfg, &buf)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			log.Info().Str("k", "v").Msg("hello")
			tt.check(t, buf.String())
		})
	}
}
