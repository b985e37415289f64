package keys

import (
	"bytes"
	"testing"
)

func TestResourcePrefix(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"/registry/pods/ns/a", "/registry/pods/"},
		{"/registry/pods/", "/registry/pods/"},
		{"/registry/pods", ""},
		{"/registry/", ""},
		{"/registry/health", ""},
		{"/registry/apiextensions.k8s.io/customresourcedefinitions/x", "/registry/apiextensions.k8s.io/customresourcedefinitions/"},
		{"/registry/example.com/widgets/ns/w", "/registry/example.com/widgets/"},
		{"/registry/example.com/widgets", ""},
		{"/registry/example.com", ""},
		{"/registry/example.com//x", ""},
		{"/registry//x", ""},
		{"/other/x", ""},
		{"foo", ""},
		{"", ""},
	} {
		if got := string(ResourcePrefix([]byte(tc.key), ResourceRoot)); got != tc.want {
			t.Errorf("ResourcePrefix(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
	if got := ResourcePrefix([]byte("/registry/pods/a"), ""); got != nil {
		t.Errorf("empty root: %q, want none", got)
	}
	if got := string(ResourcePrefix([]byte("/k/pods/a"), "/k/")); got != "/k/pods/" {
		t.Errorf("root /k/: %q", got)
	}
}

// TestResourcePrefixIntervals: every key with a resource prefix lies in
// [prefix, PrefixEnd(prefix)) and no other key's prefix does, which is what
// lets the store scan shards in prefix order.
func TestResourcePrefixIntervals(t *testing.T) {
	ks := []string{"/registry/a", "/registry/a/1", "/registry/a-b/x", "/registry/a.b/c/1", "/registry/a.b/c/2",
		"/registry/a.b/c0/1", "/registry/a.b/cd/1", "/registry/a/", "/registry/b/\xff", "/registry/a.b.c/d/e", "/s"}
	for _, k := range ks {
		p := ResourcePrefix([]byte(k), ResourceRoot)
		if p == nil {
			continue
		}
		r := Range{Start: p, End: PrefixEnd(p)}
		for _, other := range ks {
			in := r.Contains([]byte(other))
			same := bytes.Equal(ResourcePrefix([]byte(other), ResourceRoot), p)
			if in != same {
				t.Errorf("prefix %q of %q: %q in its interval %v, has that prefix %v", p, k, other, in, same)
			}
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, key, end string
		in, out        []string
	}{
		{"single", "/a", "", []string{"/a"}, []string{"/a/", "/", "/b"}},
		{"interval", "/a", "/c", []string{"/a", "/a/x", "/b"}, []string{"/", "/c", "/c/"}},
		{"from key", "/b", "\x00", []string{"/b", "/z", "\xff"}, []string{"/a", "/"}},
		{"everything", "\x00", "\x00", []string{"\x00", "/", "\xff\xff"}, nil},
		{"empty interval", "/b", "/a", nil, []string{"/a", "/b"}},
	} {
		q := Parse([]byte(tc.key), []byte(tc.end))
		for _, k := range tc.in {
			if !q.Contains([]byte(k)) {
				t.Errorf("%s: %q not selected", tc.name, k)
			}
		}
		for _, k := range tc.out {
			if q.Contains([]byte(k)) {
				t.Errorf("%s: %q selected", tc.name, k)
			}
		}
		if q.Single != (tc.end == "") {
			t.Errorf("%s: Single %v", tc.name, q.Single)
		}
	}
	if r := Parse([]byte("/b"), []byte("/a")).Range; !r.Empty() {
		t.Error("[/b, /a) is not empty")
	}
	if r := Parse([]byte("/a"), []byte{0}).Range; r.Empty() || r.End != nil {
		t.Errorf("from key: %+v, want no upper bound", r)
	}
}

func TestPrefixEndAndMinEnd(t *testing.T) {
	for p, want := range map[string]string{"/a/": "/a0", "a\xff": "b", "a\xff\xff": "b"} {
		if got := PrefixEnd([]byte(p)); string(got) != want {
			t.Errorf("PrefixEnd(%q) = %q, want %q", p, got, want)
		}
	}
	for _, p := range []string{"", "\xff", "\xff\xff"} {
		if got := PrefixEnd([]byte(p)); got != nil {
			t.Errorf("PrefixEnd(%q) = %q, want none", p, got)
		}
	}
	// PrefixEnd must not write into its argument.
	p := []byte("/a/")
	PrefixEnd(p)
	if string(p) != "/a/" {
		t.Errorf("PrefixEnd changed its argument to %q", p)
	}
	a, b := []byte("/a"), []byte("/b")
	for _, tc := range []struct{ x, y, want []byte }{{a, b, a}, {b, a, a}, {nil, b, b}, {a, nil, a}, {nil, nil, nil}} {
		if got := MinEnd(tc.x, tc.y); !bytes.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("MinEnd(%q, %q) = %q, want %q", tc.x, tc.y, got, tc.want)
		}
	}
}
