package server

import (
	"slices"
	"testing"

	"github.com/k8s1m/k8s1m/memetcd/keys"
	"github.com/k8s1m/k8s1m/memetcd/store"
)

// The store hands the hub every write as it publishes it, on the writer's
// goroutine: a matching stream is woken before Put returns, one that does
// not match is not, and every stream wakes when the store closes.
func TestWatchHubWokenByTheWrite(t *testing.T) {
	st := store.New(store.Config{})
	h := newWatchHub(st)
	newStream := func(key string) *watchStream {
		ws := &watchStream{wakec: make(chan struct{}, 1)}
		rs := streamRanges{keys.Parse([]byte(key), nil)}
		ws.ranges.Store(&rs)
		h.add(ws)
		return ws
	}
	foo, bar := newStream("/pods/ns/foo"), newStream("/pods/ns/bar")
	woken := func(ws *watchStream) bool {
		select {
		case <-ws.wakec:
			return true
		default:
			return false
		}
	}
	for _, key := range []string{"/pods/ns-bad/foo", "/pods/ns/foo"} {
		if _, _, err := st.Put(&store.PutRequest{Key: []byte(key), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	if !woken(foo) || woken(bar) {
		t.Fatal("after the put of /pods/ns/foo: want its stream woken, and only it")
	}
	st.Close()
	if !woken(foo) || !woken(bar) {
		t.Fatal("the store closed: every stream should wake to see it")
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
