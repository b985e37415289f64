package server

import (
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
