package versions

import (
	"strings"
	"testing"
)

const sample = `# comment
module cli v0.1.0 aaaa
module proto v0.2.0 bbbb
#
pin k8s.io/kubernetes v1.37.2
`

func TestParseAndSet(t *testing.T) {
	f, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := f.Release("proto"); !ok || r.Version != "v0.2.0" || r.Tag() != "proto/v0.2.0" || r.Path() != "github.com/k8s1m/k8s1m/proto" {
		t.Fatalf("proto = %+v", r)
	}
	if f.Pins["k8s.io/kubernetes"] != "v1.37.2" {
		t.Fatalf("pins = %v", f.Pins)
	}
	f.Set(Release{Dir: "proto", Version: "v0.3.0", Commit: "cccc"})
	f.Set(Release{Dir: "relay", Version: "v0.1.0", Commit: "dddd"})
	out := string(f.Bytes())
	want := "# comment\nmodule cli v0.1.0 aaaa\nmodule proto v0.3.0 cccc\nmodule relay v0.1.0 dddd\n#\npin k8s.io/kubernetes v1.37.2\n"
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	if _, err := Parse(f.Bytes()); err != nil {
		t.Fatal(err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{
		"module cli v0.1.0\n",
		"module cli 0.1.0 aaaa\n",
		"module cli v0.1.0 a\nmodule cli v0.2.0 b\n",
		"pin x\n",
		"frobnicate\n",
	} {
		if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "line") {
			t.Errorf("Parse(%q) err = %v, want a line-numbered error", bad, err)
		}
	}
}
