package server

import (
	"slices"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/keys"
	"github.com/k8s1m/k8s1m/memetcd/store"
)

// New starts the hub's goroutine, and clients can be served (a watcher
// created, the log read) and write before that goroutine first runs. The
// hub must still read those writes and wake the stream: it used to start at
// the store's revision when its goroutine ran, skip them, and leave the
// watcher without its event until some later matching write (the flaky
// "time out ... on ResultChan" of the conformance TestWatch/create_a_key,
// the first watch of a fresh server). Here the goroutine is started after
// the write, the order the scheduler sometimes picks.
func TestWatchHubReadsWritesBeforeItRuns(t *testing.T) {
	st := store.New(store.Config{})
	defer st.Close()
	h := newWatchHub(st)

	// A stream whose watcher was created, and which read the log, before
	// the write.
	ws := &watchStream{wakec: make(chan struct{}, 1)}
	rs := streamRanges{keys.Parse([]byte("/pods/ns/foo"), nil)}
	ws.ranges.Store(&rs)
	h.add(ws)

	for _, key := range []string{"/pods/ns-bad/foo", "/pods/ns/foo"} {
		if _, _, err := st.Put(&store.PutRequest{Key: []byte(key), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}

	stop := make(chan struct{})
	defer close(stop)
	go h.run(stop)

	select {
	case <-ws.wakec:
	case <-time.After(30 * time.Second):
		t.Fatal("the hub never woke the stream for a write made before its goroutine first ran")
	}
}

// The hub's prefix index must wake exactly the streams whose watchers
// select an event's key: streams watching slash-ended prefixes (found
// through the index), streams with single keys or arbitrary ranges (tried
// range by range), a stream whose ranges change, and no other.
func TestWatchHubWakesMatchingStreamsOnly(t *testing.T) {
	st := store.New(store.Config{})
	defer st.Close()
	h := newWatchHub(st)
	prefix := func(p string) keys.Request { return keys.Parse([]byte(p), keys.PrefixEnd([]byte(p))) }
	newStream := func(rs ...keys.Request) *watchStream {
		ws := &watchStream{wakec: make(chan struct{}, 1)}
		r := streamRanges(rs)
		ws.ranges.Store(&r)
		h.add(ws)
		return ws
	}
	pods := newStream(prefix("/registry/pods/"))
	podsNs := newStream(prefix("/registry/pods/ns1/"))
	leases := newStream(prefix("/registry/leases/"), prefix("/registry/coordination.k8s.io/leases/"))
	single := newStream(keys.Parse([]byte("/registry/pods/ns2/a"), nil))
	interval := newStream(keys.Parse([]byte("/registry/pods/ns3/"), []byte("/registry/pods/ns3/m")))
	fromKey := newStream(keys.Parse([]byte("/zz"), []byte{0}))
	unslashed := newStream(prefix("/registry/po"))
	all := []*watchStream{pods, podsNs, leases, single, interval, fromKey, unslashed}
	name := map[*watchStream]string{pods: "pods", podsNs: "pods/ns1", leases: "leases", single: "single", interval: "interval", fromKey: "from /zz", unslashed: "/registry/po"}

	check := func(key string, want ...*watchStream) {
		t.Helper()
		h.wakeMatching([]store.Event{{KV: store.KeyValue{Key: []byte(key)}}})
		for _, ws := range all {
			woken := false
			select {
			case <-ws.wakec:
				woken = true
			default:
			}
			if woken != slices.Contains(want, ws) {
				t.Errorf("event %s: stream %s woken %v, want %v", key, name[ws], woken, !woken)
			}
		}
	}
	check("/registry/pods/ns1/a", pods, podsNs, unslashed)
	check("/registry/pods/ns2/a", pods, single, unslashed)
	check("/registry/pods/ns3/b", pods, interval, unslashed)
	check("/registry/pods/ns3/z", pods, unslashed)
	check("/registry/coordination.k8s.io/leases/kube-node-lease/n1", leases)
	check("/registry/podsx/a", unslashed)
	check("/zzz", fromKey)
	check("/other")

	// A stream that changes its ranges is re-indexed; one removed is not woken.
	r := streamRanges{prefix("/registry/nodes/")}
	pods.ranges.Store(&r)
	pods.hub.rangesChanged()
	h.remove(unslashed)
	all = slices.DeleteFunc(all, func(ws *watchStream) bool { return ws == unslashed })
	check("/registry/pods/ns1/a", podsNs)
	check("/registry/nodes/n1", pods)
}
