package app

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/k8s1m/k8s1m/localcluster/cluster"
	"github.com/k8s1m/k8s1m/localcluster/promtext"
	"github.com/k8s1m/k8s1m/localcluster/report"
	"github.com/k8s1m/k8s1m/localcluster/tracker"
	"github.com/k8s1m/k8s1m/localcluster/workload"
	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// timelinePoints is the resolution of the bound-over-time curve.
const timelinePoints = 200

// runWorkload creates the nodes, waits for them to be Ready, creates the pods,
// waits for them to be bound, and measures. A non-nil report comes back even
// on a timeout, so the partial figures are written.
func runWorkload(ctx context.Context, log zerolog.Logger, cfg Config, cl *cluster.Cluster, started time.Time) (*report.Report, error) {
	r := &report.Report{
		Name: cfg.name(), Store: string(cfg.Store), Scheduler: cfg.Scheduler,
		Schedulers: len(cl.Schedulers), Relays: len(cl.Relays), Kwoks: len(cl.Kwoks),
		ControllerManager: cl.ControllerManager != nil,
		Nodes:             cfg.Nodes, Zones: cfg.Zones, NodeShards: cfg.NodeShards, Pods: cfg.Pods, Started: started.UTC(),
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", cl.Kubeconfig())
	if err != nil {
		return nil, fmt.Errorf("client config: %w", err)
	}
	// The workload client is the load generator: no client-side rate limit.
	restCfg.QPS, restCfg.Burst = -1, 0
	restCfg.UserAgent = "localcluster"
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	tctx, stopTracker := context.WithCancel(ctx)
	defer stopTracker()
	tr := tracker.New()
	if err := tr.Start(tctx, client, Namespace, workload.PodLabel+"="+workload.PodLabelValue, cluster.NodeSelector); err != nil {
		return nil, err
	}
	r.StartupSeconds = time.Since(started).Seconds()

	wcfg := workload.Config{Nodes: cfg.Nodes, Pods: cfg.Pods, Workers: cfg.Workers, PerKwokGroup: cfg.perKwok(),
		Zones: cfg.Zones, Spread: cfg.nodeSpread(), Namespace: Namespace, SchedulerName: cl.SchedulerName}
	if err := workload.PrepareNamespace(ctx, client, Namespace); err != nil {
		return nil, err
	}

	// The apiserver's own request and watch-event counters, read at each
	// phase boundary, say what each node and each pod cost it.
	apiStart, err := fetchAPIMetrics(ctx, client)
	if err != nil {
		return nil, err
	}

	// Nodes: create, then wait until kwok reports every one Ready.
	cpuNodesStart := cpuByRole(cl)
	phase := newProgress(log, cfg.ProgressEvery, tr, cfg.Nodes, cfg.Pods)
	nodesStart := time.Now()
	phase.set("nodes")
	stopProgress := phase.run(ctx)
	defer stopProgress()
	if err := workload.CreateNodes(ctx, client, wcfg, phase.nodeCreated); err != nil {
		return nil, err
	}
	if err := waitFor(ctx, cl, cfg.Timeout, func() bool { return tr.Counts().NodesReady >= cfg.Nodes }); err != nil {
		return nil, fmt.Errorf("nodes Ready: %w (%d of %d)", err, tr.Counts().NodesReady, cfg.Nodes)
	}
	r.NodesSeconds = time.Since(nodesStart).Seconds()
	r.CPUMsPerNode = perUnitMs(cpuByRole(cl), cpuNodesStart, cfg.Nodes)

	apiNodes, err := fetchAPIMetrics(ctx, client)
	if err != nil {
		return nil, err
	}
	r.APIRequestsPerNode = apiNodes.requests.per(apiStart.requests, cfg.Nodes)

	// Pods: create, then wait until every one is bound.
	wb, okb, err := storeWrites(ctx, cl)
	if err != nil {
		return nil, err
	}
	cpuStart := cpuByRole(cl)
	phase.set("pods")
	createErr := make(chan error, 1)
	go func() { createErr <- workload.CreatePods(ctx, client, wcfg, tr.Sent, nil) }()
	waitErr := waitFor(ctx, cl, cfg.Timeout, func() bool { return tr.Counts().PodsBound >= cfg.Pods })
	if waitErr != nil {
		r.TimedOut = true
	}
	if err := <-createErr; err != nil {
		return nil, err
	}
	r.CPUMsPerPod = perUnitMs(cpuByRole(cl), cpuStart, cfg.Pods)
	wa, oka, err := storeWrites(ctx, cl)
	if err != nil {
		return nil, err
	}
	phase.set("report")
	stopProgress()
	apiPods, err := fetchAPIMetrics(ctx, client)
	if err != nil {
		return nil, err
	}
	r.APIRequestsPerPod = apiPods.requests.per(apiNodes.requests, cfg.Pods)
	r.WatchEventsPerPod = apiPods.watchEvents.per(apiNodes.watchEvents, cfg.Pods)
	r.ClosedWatchers = apiPods.closedWatchers.per(apiStart.closedWatchers, 1)
	r.InitialWatchEvents = apiPods.initEvents.per(apiStart.initEvents, 1)

	res := tr.Result()
	r.PodsBound = len(res.BoundAt)
	r.Unbound = len(res.Unbound)
	r.Rebinds = res.Rebinds
	if r.Rebinds == nil {
		r.Rebinds = []string{}
	}
	if n := len(res.BoundAt); n > 0 {
		last := res.BoundAt[n-1]
		r.PodsSeconds = last.Sub(res.FirstSent).Seconds()
		r.WallSeconds = last.Sub(started).Seconds()
		if r.PodsSeconds > 0 {
			r.PodsPerSecond = float64(n) / r.PodsSeconds
		}
		r.Timeline = report.Timeline(res.FirstSent, res.BoundAt, timelinePoints)
	}
	r.LatencyP50Ms = report.Ms(report.Percentile(res.Latencies, 50))
	r.LatencyP99Ms = report.Ms(report.Percentile(res.Latencies, 99))
	r.LatencyMaxMs = report.Ms(report.Percentile(res.Latencies, 100))
	if okb && oka {
		r.StoreWrites = wa - wb
		if r.PodsSeconds > 0 {
			r.StoreWritesPerSecond = r.StoreWrites / r.PodsSeconds
		}
	} else {
		log.Warn().Msg("store exports no etcd write counters: store writes not reported")
	}
	r.ScheduledEvents, r.PodsWithManyScheduledEvents = scheduledEvents(ctx, client, r.PodsBound)
	if waitErr != nil {
		return r, fmt.Errorf("pods bound: %w (%d of %d)", waitErr, r.PodsBound, cfg.Pods)
	}
	return r, nil
}

// waitFor polls cond until it holds, a cluster process dies, or timeout passes.
func waitFor(ctx context.Context, cl *cluster.Cluster, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if err := cl.Exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// scheduledEvents counts the schedulers' Scheduled events and the pods that got
// more than one (two schedulers both believing they placed a pod). Events are
// written asynchronously, so it waits briefly for them to catch up; a scheduler
// under load may also drop events, so fewer events than pods is not an error.
func scheduledEvents(ctx context.Context, c kubernetes.Interface, want int) (total, many int) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		perPod := map[string]int{}
		total = 0
		list, err := c.CoreV1().Events(Namespace).List(ctx, metav1.ListOptions{FieldSelector: "reason=Scheduled"})
		if err == nil {
			for _, e := range list.Items {
				if e.InvolvedObject.Kind == "Pod" {
					perPod[e.InvolvedObject.Name] += max(int(e.Count), 1)
					total += max(int(e.Count), 1)
				}
			}
		}
		if total >= want || time.Now().After(deadline) || ctx.Err() != nil {
			for _, n := range perPod {
				if n > 1 {
					many++
				}
			}
			return total, many
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// progress prints a live line per interval, and one as each phase begins
// (a phase shorter than the interval still shows): phase, nodes Ready, pods
// bound and the binding rate since the previous line.
type progress struct {
	log          zerolog.Logger
	every        time.Duration
	tr           *tracker.Tracker
	nodes, pods  int
	phase        atomic.Value // string
	nodesCreated atomic.Int64
	// changed gets a token when the phase changes; never blocks.
	changed chan struct{}
}

func newProgress(log zerolog.Logger, every time.Duration, tr *tracker.Tracker, nodes, pods int) *progress {
	p := &progress{log: log, every: every, tr: tr, nodes: nodes, pods: pods, changed: make(chan struct{}, 1)}
	p.phase.Store("start")
	return p
}

func (p *progress) set(phase string) {
	p.phase.Store(phase)
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

func (p *progress) nodeCreated(n int64) { p.nodesCreated.Store(n) }

// run prints until the returned stop is called (safe to call twice).
func (p *progress) run(ctx context.Context) (stop func()) {
	if p.every <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(p.every)
		defer t.Stop()
		lastBound, lastAt := 0, time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.changed:
			case <-t.C:
			}
			now := time.Now()
			c := p.tr.Counts()
			rate := 0.0
			if d := now.Sub(lastAt).Seconds(); d > 0 {
				rate = float64(c.PodsBound-lastBound) / d
			}
			lastBound, lastAt = c.PodsBound, now
			p.log.Info().Str("phase", p.phase.Load().(string)).
				Str("nodes_created", fmt.Sprintf("%d/%d", p.nodesCreated.Load(), p.nodes)).
				Str("nodes_ready", fmt.Sprintf("%d/%d", c.NodesReady, p.nodes)).
				Str("pods_created", fmt.Sprintf("%d/%d", c.PodsSent, p.pods)).
				Str("pods_bound", fmt.Sprintf("%d/%d", c.PodsBound, p.pods)).
				Float64("pods_per_s", rate).Msg("progress")
		}
	}()
	return func() { cancel(); <-done }
}

// cpuByRole sums the CPU seconds every process has used so far by its role
// in the cluster (cluster.Role).
func cpuByRole(cl *cluster.Cluster) map[string]float64 {
	m := map[string]float64{}
	for _, p := range cl.Processes() {
		m[cl.Role(p)] += p.Usage().CPUSeconds
	}
	return m
}

// perUnitMs is the CPU each role used between two cpuByRole samples, in
// milliseconds per unit (node or pod) of the phase between them.
func perUnitMs(end, start map[string]float64, units int) map[string]float64 {
	m := map[string]float64{}
	if units <= 0 {
		return m
	}
	for role, s := range end {
		m[role] = (s - start[role]) * 1000 / float64(units)
	}
	return m
}

// storeWrites sums the write counters of every store of the cluster (one, or
// the default store and the split parts); ok is false when one exports none.
func storeWrites(ctx context.Context, cl *cluster.Cluster) (sum float64, ok bool, err error) {
	ok = true
	for _, s := range cl.Stores() {
		m, err := promtext.Fetch(ctx, s.MetricsURL)
		if err != nil {
			return 0, false, fmt.Errorf("%s metrics: %w", s.Proc.Name(), err)
		}
		w, found := m.Writes()
		sum += w
		ok = ok && found
	}
	return sum, ok, nil
}

// apiMetrics are the kube-apiserver's request and watch-event counters.
type apiMetrics struct {
	// requests by "VERB/resource/subresource"; watchEvents (sent to
	// watchers), closedWatchers (closed as unresponsive) and initEvents
	// (the initial events new watches were sent) by resource.
	requests, watchEvents, closedWatchers, initEvents counts
}

type counts map[string]float64

// per is (c - before) / n for every key that grew.
func (c counts) per(before counts, n int) map[string]float64 {
	out := map[string]float64{}
	if n <= 0 {
		return out
	}
	for k, v := range c {
		if d := v - before[k]; d > 0 {
			out[k] = d / float64(n)
		}
	}
	return out
}

// fetchAPIMetrics reads the apiserver's /metrics with the workload's client.
func fetchAPIMetrics(ctx context.Context, client kubernetes.Interface) (apiMetrics, error) {
	raw, err := client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return apiMetrics{}, fmt.Errorf("kube-apiserver metrics: %w", err)
	}
	req, err := promtext.Labelled(bytes.NewReader(raw), "apiserver_request_total", "verb", "resource", "subresource")
	if err != nil {
		return apiMetrics{}, err
	}
	// kube-apiserver 1.37 labels watch events by group, version and
	// resource (older releases had kind: every event fell under "").
	ev, err := promtext.Labelled(bytes.NewReader(raw), "apiserver_watch_events_total", "resource")
	if err != nil {
		return apiMetrics{}, err
	}
	closed, err := promtext.Labelled(bytes.NewReader(raw), "apiserver_terminated_watchers_total", "resource")
	if err != nil {
		return apiMetrics{}, err
	}
	initEv, err := promtext.Labelled(bytes.NewReader(raw), "apiserver_init_events_total", "resource")
	if err != nil {
		return apiMetrics{}, err
	}
	return apiMetrics{requests: req, watchEvents: ev, closedWatchers: closed, initEvents: initEv}, nil
}
