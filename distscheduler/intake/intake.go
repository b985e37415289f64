// Package intake is the leader's pod intake for the relay-backed tree: it
// watches unassigned pods of distscheduler's scheduler names and submits one
// tree item per pod through the root, keeping a bounded number in flight so
// that gather deadlines are not spent waiting in a backlog. A pod whose
// decision had no winner is reported unschedulable (PodScheduled=False, a
// FailedScheduling event) and submitted again with backoff while it stays
// pending. A won pod is submitted again when its winner gives it back (the
// winner's binding steps failed: it marks the pod PodScheduled=False,
// SchedulerError), when its winner leaves the tree before binding it, or, as a
// last resort, when it is still pending Recheck after the win. Only the
// Lease holder runs it, so gossip can never make two roots.
package intake

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/k8s1m/k8s1m/distscheduler/podstatus"
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
	// could place (defaults 1s and 10s, upstream's pod backoff).
	InitialBackoff, MaxBackoff time.Duration
	// Members lists the live scheduling members (tree.Member.Members): a
	// pod whose winner is no longer among them is submitted again at once.
	// Nil leaves such pods to Recheck.
	Members func() []string
	// Recheck is how long after a win a pod still pending is submitted
	// again although its winner is alive and did not give it back (a lost
	// status write, a Binding stuck in a slow API server); default 60 s. A
	// second Binding of a pod the first one bound is refused by the API
	// server, so a short Recheck costs requests, never a double binding.
	// It is also how long after its submission an item may go without a
	// decision: the tree decides every item by its deadline, so an item
	// still undecided then was lost (a tree fault); its place is freed
	// and the pod submitted again.
	Recheck time.Duration
	// KeyOf names a pod in the tree (selector.PodKey).
	KeyOf func(*v1.Pod) string
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
	if c.Client == nil || c.Root == nil || c.KeyOf == nil || c.Metrics == nil {
		return errors.New("intake: Client, Root, KeyOf and Metrics are required")
	}
	if c.Deadline <= 0 || c.InFlight < 1 {
		return fmt.Errorf("intake: deadline %v and in-flight %d must be positive", c.Deadline, c.InFlight)
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = time.Second
	}
	if c.MaxBackoff < c.InitialBackoff {
		c.MaxBackoff = 10 * time.Second
	}
	if c.Recheck <= 0 {
		c.Recheck = max(60*time.Second, 10*c.Deadline)
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
	seq      uint64    // arrival order, the tie-break after priority
	queued   bool      // in the ready heap
	gone     bool      // left the pending set; skipped when popped
	inFlight uint64    // request id of the item in flight, 0 when none
	sentAt   time.Time // when the item in flight was submitted
	attempts int       // decisions without a winner in a row
	due      time.Time
	wonAt    time.Time
	winner   string // the member told to bind it, while wonAt is set
	lastMsg  string // last unschedulable message written
	index    int
	// offeredAt is when the webhook offered the pod; zero once the watch
	// has seen it (or when it came from the watch).
	offeredAt time.Time
}

// intake is one leadership term's state.
type intake struct {
	cfg  Config
	mu   sync.Mutex // guards pods, ready, byID, seq
	pods map[types.UID]*podState
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

func (in *intake) relevant(p *v1.Pod) bool {
	if p.Spec.NodeName != "" || p.DeletionTimestamp != nil ||
		p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed {
		return false
	}
	for _, n := range in.cfg.SchedulerNames {
		if p.Spec.SchedulerName == n {
			return true
		}
	}
	return false
}

// update takes a pending pod's change; a winner marking it SchedulerError
// gives it back.
func (in *intake) update(old, cur any) {
	in.upsert(cur)
	o, _ := old.(*v1.Pod)
	p, ok := cur.(*v1.Pod)
	if !ok || !in.relevant(p) || !podstatus.SchedulerErrorAdded(o, p) {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	st := in.pods[p.UID]
	if st == nil || st.wonAt.IsZero() || st.inFlight != 0 || st.queued {
		return
	}
	in.cfg.Log.Debug().Str("pod", st.key).Str("winner", st.winner).Msg("winner gave the pod back; submitting it again")
	st.wonAt, st.winner = time.Time{}, ""
	in.cfg.Metrics.resubmitted.WithLabelValues("given_back").Inc()
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
	st := &podState{pod: p, key: in.cfg.KeyOf(p), seq: in.seq, offeredAt: offeredAt}
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
	if st.queued || st.gone || st.inFlight != 0 {
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
		if st.gone || st.inFlight != 0 {
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
		for _, st := range batch {
			st.due = time.Now().Add(in.cfg.InitialBackoff)
		}
		in.mu.Unlock()
		in.cfg.Log.Warn().Err(err).Int("pods", len(batch)).Msg("submit failed; retrying")
		return
	}
	for i, st := range batch {
		in.cfg.Log.Debug().Uint64("request", ids[i]).Str("pod", st.key).Msg("submitted")
		st.inFlight, st.sentAt = ids[i], time.Now()
		st.wonAt, st.winner = time.Time{}, ""
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
	if st != nil && st.inFlight == d.RequestID {
		st.inFlight = 0
	}
	if d.Winner != "" {
		in.cfg.Metrics.decisions.WithLabelValues("winner").Inc()
		if st != nil {
			st.attempts = 0
			st.wonAt, st.winner = time.Now(), d.Winner
		}
		return
	}
	in.cfg.Metrics.decisions.WithLabelValues("no_winner").Inc()
	if st == nil {
		return
	}
	st.attempts++
	back := in.cfg.InitialBackoff << min(st.attempts-1, 16)
	if back > in.cfg.MaxBackoff {
		back = in.cfg.MaxBackoff
	}
	st.due = time.Now().Add(back)
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

// requeueDue makes pods whose backoff ended, or whose winner left the tree
// or never bound them, ready again.
func (in *intake) requeueDue(now time.Time) {
	var live map[string]bool
	if in.cfg.Members != nil {
		ms := in.cfg.Members()
		live = make(map[string]bool, len(ms))
		for _, m := range ms {
			live[m] = true
		}
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
		if st.inFlight != 0 && now.Sub(st.sentAt) >= in.cfg.Recheck {
			// The tree owed a decision long ago: without this the item
			// would hold its in-flight place, and the pod stay pending,
			// for ever. A decision arriving later is ignored.
			in.cfg.Log.Error().Str("pod", st.key).Uint64("request", st.inFlight).Dur("age", now.Sub(st.sentAt)).
				Msg("item never decided by the tree; submitting the pod again")
			delete(in.byID, st.inFlight)
			in.cfg.Metrics.inFlight.Set(float64(len(in.byID)))
			st.inFlight = 0
			in.cfg.Metrics.resubmitted.WithLabelValues("no_decision").Inc()
			in.pushLocked(st)
			n++
			continue
		}
		if st.queued || st.inFlight != 0 {
			continue
		}
		switch {
		case !st.wonAt.IsZero():
			why := ""
			switch {
			case live != nil && !live[st.winner]:
				why = "winner_left"
			case now.Sub(st.wonAt) >= in.cfg.Recheck:
				why = "unbound_winner"
			}
			if why != "" {
				in.cfg.Log.Debug().Str("pod", st.key).Str("winner", st.winner).Str("why", why).Msg("won pod still pending; submitting it again")
				st.wonAt, st.winner = time.Time{}, ""
				in.cfg.Metrics.resubmitted.WithLabelValues(why).Inc()
				in.pushLocked(st)
				n++
			}
		case !st.due.IsZero() && !now.Before(st.due):
			st.due = time.Time{}
			in.cfg.Metrics.resubmitted.WithLabelValues("no_winner").Inc()
			in.pushLocked(st)
			n++
		}
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
		if err := podstatus.MarkNotScheduled(ctx, in.cfg.Client, u.pod, v1.PodReasonUnschedulable, u.msg); err != nil {
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
