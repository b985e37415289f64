// Package intake is the leader's end of a pod's path (package podpath): it
// watches unassigned pods of distscheduler's scheduler names and submits one
// tree item per pod through the root, keeping a bounded number in flight so
// that gather deadlines are not spent waiting in a backlog. A pod whose
// decision had no winner is reported unschedulable (PodScheduled=False, a
// FailedScheduling event). Every pod is submitted again while it stays
// pending, when and for the reasons podpath.Attempts says. Only the Lease
// holder runs it, so gossip can never make two roots.
package intake

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/podpath"
	"github.com/k8s1m/k8s1m/distscheduler/tree"
	"github.com/k8s1m/k8s1m/relay"
	"github.com/rs/zerolog"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Config configures the intake.
type Config struct {
	Client kubernetes.Interface
	// SchedulerNames are the profiles' scheduler names; other pods are
	// not distscheduler's.
	SchedulerNames []string
	// Root is the tree's root side; the intake submits each pod, encoded,
	// in its item.
	Root tree.Root
	// Deadline is each item's gather deadline (--wait-for-subschedulers).
	Deadline time.Duration
	// InFlight is the most items submitted and not yet decided.
	InFlight int
	// InitialBackoff and MaxBackoff space the submissions of a pod nobody
	// could place (podpath.Policy; defaults 1s and 10s).
	InitialBackoff, MaxBackoff time.Duration
	// Members lists the live scheduling members (tree.Member.Members): a
	// pod whose winner is no longer among them is submitted again at once.
	// Nil leaves such pods to Recheck.
	Members func() []string
	// Recheck is how long a won pod may stay pending, and an item
	// undecided, before the pod is submitted again (podpath.Policy;
	// default ten deadlines, at least 60 s).
	Recheck time.Duration
	// Offers, when set, brings pods from the admission webhook before the
	// watch sees them. An offered pod the watch has not confirmed within
	// OfferGrace (its creation failed after admission, or it is already
	// gone) is forgotten.
	Offers     <-chan *v1.Pod
	OfferGrace time.Duration
	Metrics    *Metrics
	Log        zerolog.Logger
}

func (c *Config) defaults() error {
	if c.Client == nil || c.Root == nil || c.Metrics == nil {
		return errors.New("intake: Client, Root and Metrics are required")
	}
	if c.Deadline <= 0 || c.InFlight < 1 {
		return fmt.Errorf("intake: deadline %v and in-flight %d must be positive", c.Deadline, c.InFlight)
	}
	if c.OfferGrace <= 0 {
		c.OfferGrace = 30 * time.Second
	}
	return nil
}

// podState is the intake's record of one pending pod.
type podState struct {
	pod      *v1.Pod
	key      string
	seq      uint64 // arrival order, the tie-break after priority
	queued   bool   // in the ready heap
	gone     bool   // left the pending set; skipped when popped
	attempts podpath.Attempts
	lastMsg  string // last unschedulable message written
	index    int
	// offeredAt is when the webhook offered the pod; zero once the watch
	// has seen it (or when it came from the watch).
	offeredAt time.Time
}

// intake is one leadership term's state.
type intake struct {
	cfg    Config
	policy podpath.Policy
	mu     sync.Mutex // guards pods, ready, byID, seq
	pods   map[types.UID]*podState
	// ready holds pods to submit, highest priority first, then oldest.
	ready readyHeap
	// byID maps items in flight to their pods' UIDs.
	byID map[uint64]types.UID
	seq  uint64
	wake chan struct{}
	// decMu guards decisions: decisions arrived and not yet applied. The
	// relay may deliver a decision from inside Submit (a root alone), so
	// they are applied by the loop, never under the caller's locks.
	decMu     sync.Mutex
	decisions []tree.Decision
	// unsched carries no-winner decisions to the status writer.
	unsched chan unschedulable
}

type unschedulable struct {
	pod *v1.Pod
	msg string
}

// Run runs the intake until ctx ends (leadership is lost).
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	in := &intake{
		cfg:     cfg,
		policy:  podpath.Policy{InitialBackoff: cfg.InitialBackoff, MaxBackoff: cfg.MaxBackoff, Recheck: cfg.Recheck}.Complete(cfg.Deadline),
		pods:    map[types.UID]*podState{},
		byID:    map[uint64]types.UID{},
		wake:    make(chan struct{}, 1),
		unsched: make(chan unschedulable, 1024),
	}
	cfg.Root.OnDecision(in.decided)
	defer cfg.Root.OnDecision(nil)

	factory := informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName=" }))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { in.upsert(o) },
		UpdateFunc: in.update,
		DeleteFunc: in.remove,
	}); err != nil {
		return fmt.Errorf("intake pod handler: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()

	events := record.NewBroadcaster(record.WithContext(ctx))
	events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cfg.Client.CoreV1().Events("")})
	defer events.Shutdown()
	recorder := events.NewRecorder(scheme.Scheme, v1.EventSource{Component: "dist-scheduler"})
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		in.writeUnschedulable(ctx, recorder)
	}()

	cfg.Log.Info().Int("in_flight", cfg.InFlight).Dur("deadline", cfg.Deadline).Msg("pod intake running")
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		in.applyDecisions()
		in.submitReady()
		select {
		case <-ctx.Done():
			return nil
		case p := <-cfg.Offers:
			in.offer(p)
		case <-in.wake:
		case now := <-tick.C:
			in.requeueDue(now)
		}
	}
}

func (in *intake) signal() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

func (in *intake) relevant(p *v1.Pod) bool { return podpath.Pending(p, in.cfg.SchedulerNames) }

// update takes a pending pod's change; a winner marking it SchedulerError
// gives it back.
func (in *intake) update(old, cur any) {
	in.upsert(cur)
	o, _ := old.(*v1.Pod)
	p, ok := cur.(*v1.Pod)
	if !ok || !in.relevant(p) || !podpath.SchedulerErrorAdded(o, p) {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	st := in.pods[p.UID]
	if st == nil || st.queued {
		return
	}
	winner := st.attempts.Winner()
	if !st.attempts.GiveBack() {
		return
	}
	in.cfg.Log.Debug().Str("pod", st.key).Str("winner", winner).Msg("winner gave the pod back; submitting it again")
	in.cfg.Metrics.resubmitted.WithLabelValues(string(podpath.GivenBack)).Inc()
	in.pushLocked(st)
	in.signal()
}

func (in *intake) upsert(o any) {
	p, ok := o.(*v1.Pod)
	if !ok {
		return
	}
	if !in.relevant(p) {
		in.remove(p)
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if st, ok := in.pods[p.UID]; ok {
		st.pod = p
		st.offeredAt = time.Time{}
		return
	}
	in.addLocked(p, time.Time{})
}

// offer takes a pod from the admission webhook: new pods are submitted at
// once; the watch later confirms them (or they are forgotten).
func (in *intake) offer(p *v1.Pod) {
	if !in.relevant(p) {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, ok := in.pods[p.UID]; ok {
		in.cfg.Metrics.offers.WithLabelValues("known").Inc()
		return
	}
	in.cfg.Metrics.offers.WithLabelValues("new").Inc()
	in.addLocked(p, time.Now())
}

func (in *intake) addLocked(p *v1.Pod, offeredAt time.Time) {
	in.seq++
	st := &podState{pod: p, key: podpath.Key(p), seq: in.seq, offeredAt: offeredAt}
	in.pods[p.UID] = st
	in.pushLocked(st)
	in.cfg.Metrics.pending.Set(float64(len(in.pods)))
	in.signal()
}

func (in *intake) remove(o any) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	p, ok := o.(*v1.Pod)
	if !ok {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if st, ok := in.pods[p.UID]; ok {
		st.gone = true
		delete(in.pods, p.UID)
		in.cfg.Metrics.pending.Set(float64(len(in.pods)))
	}
}

func (in *intake) pushLocked(st *podState) {
	if st.queued || st.gone || st.attempts.InFlight() != 0 {
		return
	}
	st.queued = true
	heap.Push(&in.ready, st)
}

// submitReady submits ready pods while the in-flight budget allows.
func (in *intake) submitReady() {
	in.mu.Lock()
	room := in.cfg.InFlight - len(in.byID)
	var batch []*podState
	for room > 0 && in.ready.Len() > 0 {
		st := heap.Pop(&in.ready).(*podState)
		st.queued = false
		if st.gone || st.attempts.InFlight() != 0 {
			continue
		}
		batch = append(batch, st)
		room--
	}
	if len(batch) == 0 {
		in.mu.Unlock()
		return
	}
	items := make([]tree.Item, 0, len(batch))
	sent := batch[:0]
	for _, st := range batch {
		// Members need the spec, not the field managers' bookkeeping.
		p := *st.pod
		p.ManagedFields = nil
		pod, err := p.Marshal()
		if err != nil {
			// Cannot happen for a pod the API server served; never retry it.
			in.cfg.Log.Error().Err(err).Str("pod", st.key).Msg("cannot encode the pod for the tree")
			st.gone = true
			delete(in.pods, st.pod.UID)
			continue
		}
		items = append(items, tree.Item{Key: st.key, Pod: pod})
		sent = append(sent, st)
	}
	batch = sent
	if len(batch) == 0 {
		in.mu.Unlock()
		return
	}
	// Submit does not block on the network; holding the lock keeps a
	// decision from arriving before its id is recorded.
	ids, err := in.cfg.Root.Submit(in.cfg.Deadline, items...)
	if err != nil {
		now := time.Now()
		for _, st := range batch {
			st.attempts.SubmitFailed(now, in.policy)
		}
		in.mu.Unlock()
		in.cfg.Log.Warn().Err(err).Int("pods", len(batch)).Msg("submit failed; retrying")
		return
	}
	now := time.Now()
	for i, st := range batch {
		in.cfg.Log.Debug().Uint64("request", ids[i]).Str("pod", st.key).Msg("submitted")
		st.attempts.Submitted(ids[i], now)
		in.byID[ids[i]] = st.pod.UID
	}
	in.cfg.Metrics.inFlight.Set(float64(len(in.byID)))
	in.mu.Unlock()
	in.cfg.Metrics.submitted.Add(float64(len(batch)))
}

// decided takes a decision from the root; it must not block.
func (in *intake) decided(d tree.Decision) {
	in.decMu.Lock()
	in.decisions = append(in.decisions, d)
	in.decMu.Unlock()
	in.signal()
}

// applyDecisions applies the decisions that arrived.
func (in *intake) applyDecisions() {
	in.decMu.Lock()
	ds := in.decisions
	in.decisions = nil
	in.decMu.Unlock()
	if len(ds) == 0 {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, d := range ds {
		in.applyLocked(d)
	}
}

func (in *intake) applyLocked(d tree.Decision) {
	uid, ok := in.byID[d.RequestID]
	in.cfg.Log.Debug().Uint64("request", d.RequestID).Str("pod_uid", string(uid)).Bool("known", ok).
		Str("winner", d.Winner).Int("reports", d.Reports).Msg("decision")
	if !ok {
		return
	}
	delete(in.byID, d.RequestID)
	in.cfg.Metrics.inFlight.Set(float64(len(in.byID)))
	st := in.pods[uid]
	if st != nil {
		st.attempts.Decided(d.RequestID, d.Winner, time.Now(), in.policy)
	}
	if d.Winner != "" {
		in.cfg.Metrics.decisions.WithLabelValues("winner").Inc()
		return
	}
	in.cfg.Metrics.decisions.WithLabelValues("no_winner").Inc()
	if st == nil {
		return
	}
	if d.NoWinner != relay.NoFeasibleNode {
		return // nobody evaluated it (members busy or gone): just retry
	}
	msg := fmt.Sprintf("no member can place the pod (%d reported, %d did not answer in time): %s",
		d.Reports, d.Stragglers, d.Reason)
	if msg == st.lastMsg {
		return
	}
	st.lastMsg = msg
	select {
	case in.unsched <- unschedulable{pod: st.pod, msg: msg}:
	default:
		st.lastMsg = "" // writer behind: write on a later decision
	}
}

// requeueDue makes ready again the pods that podpath.Attempts says are due
// (backoff ended, winner gone or silent, item lost), and forgets the
// webhook's offers the watch never confirmed.
func (in *intake) requeueDue(now time.Time) {
	var live func(string) bool
	if in.cfg.Members != nil {
		ms := in.cfg.Members()
		set := make(map[string]bool, len(ms))
		for _, m := range ms {
			set[m] = true
		}
		live = func(m string) bool { return set[m] }
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for uid, st := range in.pods {
		if !st.offeredAt.IsZero() && now.Sub(st.offeredAt) >= in.cfg.OfferGrace {
			// Offered by the webhook, never seen by the watch.
			in.cfg.Metrics.offers.WithLabelValues("expired").Inc()
			st.gone = true
			delete(in.pods, uid)
			in.cfg.Metrics.pending.Set(float64(len(in.pods)))
			continue
		}
		if id := st.attempts.Lost(now, in.policy); id != 0 {
			in.cfg.Log.Error().Str("pod", st.key).Uint64("request", id).Dur("age", st.attempts.Age(now)).
				Msg("item never decided by the tree; submitting the pod again")
			delete(in.byID, id)
			in.cfg.Metrics.inFlight.Set(float64(len(in.byID)))
			in.cfg.Metrics.resubmitted.WithLabelValues(string(podpath.NoDecision)).Inc()
			in.pushLocked(st)
			n++
			continue
		}
		if st.queued {
			continue
		}
		winner := st.attempts.Winner()
		why := st.attempts.Due(now, in.policy, live)
		if why == "" {
			continue
		}
		if why != podpath.NoWinner {
			in.cfg.Log.Debug().Str("pod", st.key).Str("winner", winner).Str("why", string(why)).Msg("won pod still pending; submitting it again")
		}
		in.cfg.Metrics.resubmitted.WithLabelValues(string(why)).Inc()
		in.pushLocked(st)
		n++
	}
	if n > 0 {
		in.signal()
	}
}

// writeUnschedulable sets PodScheduled=False (Unschedulable) and records a
// FailedScheduling event for pods nobody could place, as upstream's failure
// path does on a single scheduler. Members never write these: with the relay
// a member only learns that it lost.
func (in *intake) writeUnschedulable(ctx context.Context, rec record.EventRecorder) {
	for {
		var u unschedulable
		select {
		case <-ctx.Done():
			return
		case u = <-in.unsched:
		}
		rec.Event(u.pod, v1.EventTypeWarning, "FailedScheduling", u.msg)
		if err := podpath.MarkNotScheduled(ctx, in.cfg.Client, u.pod, v1.PodReasonUnschedulable, u.msg); err != nil {
			in.cfg.Log.Warn().Err(err).Str("pod", u.pod.Namespace+"/"+u.pod.Name).Msg("could not mark pod unschedulable")
		}
	}
}

// readyHeap orders pods by priority (highest first), then arrival.
type readyHeap []*podState

func (h readyHeap) Len() int { return len(h) }
func (h readyHeap) Less(i, j int) bool {
	pi, pj := priority(h[i].pod), priority(h[j].pod)
	if pi != pj {
		return pi > pj
	}
	return h[i].seq < h[j].seq
}
func (h readyHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *readyHeap) Push(x any) {
	st := x.(*podState)
	st.index = len(*h)
	*h = append(*h, st)
}
func (h *readyHeap) Pop() any {
	old := *h
	st := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return st
}

func priority(p *v1.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}
