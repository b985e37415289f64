package promtext

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseAndWrites(t *testing.T) {
	tests := []struct {
		name       string
		text       string
		wantWrites float64
		wantOK     bool
	}{
		{
			name: "etcd exports both families: newest only",
			text: `# HELP etcd_mvcc_put_total Total number of puts.
# TYPE etcd_mvcc_put_total counter
etcd_mvcc_put_total 120
etcd_mvcc_delete_total 3
etcd_debugging_mvcc_put_total 120
etcd_debugging_mvcc_delete_total 3
`,
			wantWrites: 123, wantOK: true,
		},
		{
			name:       "memetcd names with labels and timestamps",
			text:       "etcd_debugging_mvcc_put_total{prefix=\"/registry/pods\"} 10 1700000000\netcd_debugging_mvcc_put_total{prefix=\"/registry/leases\"} 5\netcd_debugging_mvcc_delete_total 1e1\n",
			wantWrites: 25, wantOK: true,
		},
		{name: "no write counters", text: "go_goroutines 12\nbogus line\n", wantOK: false},
		{name: "label values with spaces and braces", text: "etcd_mvcc_put_total{a=\"x } y\"} 7\n", wantWrites: 7, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(strings.NewReader(tt.text))
			if err != nil {
				t.Fatal(err)
			}
			w, ok := s.Writes()
			if w != tt.wantWrites || ok != tt.wantOK {
				t.Errorf("Writes = %v, %v; want %v, %v", w, ok, tt.wantWrites, tt.wantOK)
			}
		})
	}
}

func TestFetch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("etcd_mvcc_put_total 4\n"))
	}))
	defer srv.Close()
	s, err := Fetch(t.Context(), srv.URL+"/metrics")
	if err != nil || s["etcd_mvcc_put_total"] != 4 {
		t.Fatalf("Fetch = %v, %v", s, err)
	}
	if _, err := Fetch(t.Context(), srv.URL+"/nope"); err == nil {
		t.Error("Fetch of a 404 succeeded")
	}
}

func TestLabelled(t *testing.T) {
	in := `# HELP apiserver_request_total x
apiserver_request_total{code="201",component="apiserver",resource="pods",subresource="binding",verb="POST"} 7
apiserver_request_total{code="409",component="apiserver",resource="pods",subresource="binding",verb="POST"} 1
apiserver_request_total{code="200",component="apiserver",resource="nodes",subresource="",verb="LIST"} 2
apiserver_request_total_other{resource="pods",verb="POST"} 100
`
	got, err := Labelled(strings.NewReader(in), "apiserver_request_total", "verb", "resource", "subresource")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"POST/pods/binding": 8, "LIST/nodes/": 2}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
