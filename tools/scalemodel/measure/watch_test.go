// Package measure holds the short measurements taken for the scale model
// where no module's BENCHMARKS.md had the figure. They run only when asked
// (flags below) and print figures for docs/scale-costs.json; they assert
// nothing about speed.
package measure

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/controlplane"
	"github.com/k8s1m/k8s1m/harness/kubeapi"
)

var (
	watchers = flag.Int("measure.watchers", 0, "TestMeasureWatchFanout: pod watchers in the loaded rounds (0 skips the measurement)")
	pods     = flag.Int("measure.pods", 2000, "TestMeasureWatchFanout: pods created (and each patched once) per round")
	rounds   = flag.Int("measure.rounds", 2, "TestMeasureWatchFanout: rounds, each one without watchers and one with")
)

// TestMeasureWatchFanout measures what the kube-apiserver spends per watch
// event it sends: the apiserver's CPU for creating and patching P pods with
// no pod watcher, against the same with K watchers (each its own connection,
// protobuf, as a distscheduler member's informer watches), rounds
// interleaved. Extra CPU / (K × events) is the figure.
//
//	go test -c -o /tmp/measure.test ./measure && K8S1M_BIN=$PWD/../../bin \
//	  /tmp/measure.test -test.run TestMeasureWatchFanout -test.v -measure.watchers 32
func TestMeasureWatchFanout(t *testing.T) {
	if *watchers <= 0 {
		t.Skip("a measurement: give -measure.watchers N to run it")
	}
	cp := controlplane.ForTest(t, controlplane.Config{AuthorizationMode: kubeapi.AuthzAlwaysAllow,
		// As localcluster runs it: no flow control, room for the load.
		APIServerArgs: []string{"--enable-priority-and-fairness=false", "--max-requests-inflight=2000", "--max-mutating-requests-inflight=1000"}})
	a, s, files := cp.API, cp.Store, cp.PKI
	tlsCfg, err := files.AdminTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	api := &apiClient{base: a.URL, http: newClient(tlsCfg)}
	// No controller manager runs: the ServiceAccount admission plugin needs
	// the namespace's default ServiceAccount to exist.
	if _, err := api.do(t.Context(), http.MethodPost, "/api/v1/namespaces/default/serviceaccounts", "application/json",
		[]byte(`{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default"}}`)); err != nil {
		t.Fatal(err)
	}

	type result struct{ cpu, storeCPU, wall float64 }
	byK := map[int][]result{}
	for r := range *rounds {
		for _, k := range []int{0, *watchers} {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			rv, err := api.listRV(ctx)
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			ws := startWatchers(ctx, t, tlsCfg, a.URL, rv, k)
			before, storeBefore, start := a.Proc.Usage().CPUSeconds, s.Proc.Usage().CPUSeconds, time.Now()
			prefix := fmt.Sprintf("r%d-k%d-", r, k)
			if err := api.createAndPatch(ctx, prefix, *pods); err != nil {
				cancel()
				t.Fatal(err)
			}
			if err := ws.waitFor(ctx, 2**pods); err != nil {
				cancel()
				t.Fatalf("round %d, %d watchers: %v", r, k, err)
			}
			res := result{cpu: a.Proc.Usage().CPUSeconds - before, storeCPU: s.Proc.Usage().CPUSeconds - storeBefore, wall: time.Since(start).Seconds()}
			cancel()
			ws.wg.Wait()
			byK[k] = append(byK[k], res)
			t.Logf("round %d, %3d watchers: apiserver %.2f CPU s, memetcd %.2f CPU s, over %.1f s for %d pods created and patched", r, k, res.cpu, res.storeCPU, res.wall, *pods)
			if err := api.deleteAll(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	mean := func(rs []result, of func(result) float64) float64 {
		var sum float64
		for _, r := range rs {
			sum += of(r)
		}
		return sum / float64(len(rs))
	}
	apiCPU := func(r result) float64 { return r.cpu }
	base, loaded := mean(byK[0], apiCPU), mean(byK[*watchers], apiCPU)
	events := float64(2 * *pods)
	t.Logf("per pod write (one create or PATCH), no watchers: apiserver %.3f ms, memetcd %.3f ms",
		base/events*1000, mean(byK[0], func(r result) float64 { return r.storeCPU })/events*1000)
	t.Logf("apiserver CPU per watch event sent: %.2f µs ((%.2f - %.2f) CPU s / (%d watchers × %.0f events))",
		(loaded-base)/(float64(*watchers)*events)*1e6, loaded, base, *watchers, events)
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		t.Logf("load average at the end: %s", bytes.TrimSpace(la))
	}
}

// newClient is an HTTP/2 client with its own connection.
func newClient(tlsCfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg.Clone(), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}}
}

type apiClient struct {
	base string
	http *http.Client
}

func (c *apiClient) do(ctx context.Context, method, path, ctype string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return b, err
}

// listRV is the pods list's resourceVersion, where the watchers start.
func (c *apiClient) listRV(ctx context.Context) (string, error) {
	b, err := c.do(ctx, http.MethodGet, "/api/v1/namespaces/default/pods?limit=1", "", nil)
	if err != nil {
		return "", err
	}
	const key = `"resourceVersion":"`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return "", fmt.Errorf("no resourceVersion in the pod list: %.200s", b)
	}
	rest := b[i+len(key):]
	return string(rest[:bytes.IndexByte(rest, '"')]), nil
}

// createAndPatch creates n pods and then labels each: two events per pod.
func (c *apiClient) createAndPatch(ctx context.Context, prefix string, n int) error {
	const workers = 32
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				name := fmt.Sprintf("%s%06d", prefix, i)
				pod := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},"spec":{"schedulerName":"none","automountServiceAccountToken":false,"containers":[{"name":"c","image":"registry.k8s.io/pause:3.10","resources":{"requests":{"cpu":"100m","memory":"128Mi"}}}]}}`, name)
				if _, err := c.do(ctx, http.MethodPost, "/api/v1/namespaces/default/pods", "application/json", []byte(pod)); err != nil {
					errs <- err
					return
				}
				if _, err := c.do(ctx, http.MethodPatch, "/api/v1/namespaces/default/pods/"+name, "application/merge-patch+json", []byte(`{"metadata":{"labels":{"patched":"yes"}}}`)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return errors.Join(<-errs)
}

func (c *apiClient) deleteAll(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodDelete, "/api/v1/namespaces/default/pods?gracePeriodSeconds=0", "", nil)
	return err
}

type watchSet struct {
	wg     sync.WaitGroup
	counts []atomic.Int64
	errs   chan error
}

// startWatchers opens k protobuf pod watches from rv, each on its own
// connection, counting the events each receives.
func startWatchers(ctx context.Context, t *testing.T, tlsCfg *tls.Config, base, rv string, k int) *watchSet {
	ws := &watchSet{counts: make([]atomic.Int64, k), errs: make(chan error, k)}
	for i := range k {
		client := newClient(tlsCfg)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/namespaces/default/pods?watch=true&resourceVersion="+rv, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/vnd.kubernetes.protobuf;type=watch")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("watcher %d: %v", i, err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("watcher %d: %s", i, resp.Status)
		}
		ws.wg.Go(func() {
			defer resp.Body.Close()
			// The protobuf watch stream is length-prefixed frames, one event each.
			r := bufio.NewReaderSize(resp.Body, 64<<10)
			var hdr [4]byte
			for {
				if _, err := io.ReadFull(r, hdr[:]); err != nil {
					if ctx.Err() == nil {
						ws.errs <- fmt.Errorf("watcher %d: %w", i, err)
					}
					return
				}
				if _, err := r.Discard(int(binary.BigEndian.Uint32(hdr[:]))); err != nil {
					return
				}
				ws.counts[i].Add(1)
			}
		})
	}
	return ws
}

// waitFor polls until every watcher has received n events.
func (ws *watchSet) waitFor(ctx context.Context, n int) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		done := true
		for i := range ws.counts {
			if ws.counts[i].Load() < int64(n) {
				done = false
				break
			}
		}
		if done {
			return nil
		}
		select {
		case err := <-ws.errs:
			return err
		case <-ctx.Done():
			return fmt.Errorf("watchers did not get %d events: %w", n, ctx.Err())
		case <-tick.C:
		}
	}
}
