package relay

import (
	"bytes"
	"fmt"
	"log"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/memberlist"
	relayv1 "github.com/k8s1m/k8s1m/proto/relay/v1"
	"github.com/k8s1m/k8s1m/relay/tree"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
)

// protocolVersion is the relay protocol this code speaks (k8s1m.relay.v1).
const protocolVersion = 1

// view is one immutable snapshot of the membership. Everything that depends on
// who is in the cluster (trees, gatherers, expected reporters) is computed from
// one view, so a membership change never leaves a half-updated state.
type view struct {
	seq     uint64
	members []Member // sorted by name
	byName  map[string]Member
	// schedulers are the names of the scheduling members, sorted; schedIndex
	// maps a name to its index there.
	schedulers []string
	schedIndex map[string]int
	// hashes are the members' name hashes, parallel to members, for gatherer
	// selection.
	hashes []uint64

	treeMu sync.Mutex
	trees  map[string]*tree.Tree // by root; built on first use
}

func newView(seq uint64, byName map[string]Member) *view {
	v := &view{seq: seq, byName: byName, trees: map[string]*tree.Tree{}, schedIndex: map[string]int{}}
	for _, m := range byName {
		v.members = append(v.members, m)
	}
	slices.SortFunc(v.members, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	v.hashes = make([]uint64, len(v.members))
	for i, m := range v.members {
		v.hashes[i] = hashString(m.Name)
		if m.Role.Schedules() {
			v.schedIndex[m.Name] = len(v.schedulers)
			v.schedulers = append(v.schedulers, m.Name)
		}
	}
	return v
}

// tree returns the tree rooted at root, or nil when root is not a member.
func (v *view) tree(root string, fanout int) *tree.Tree {
	v.treeMu.Lock()
	defer v.treeMu.Unlock()
	if t, ok := v.trees[root]; ok {
		return t
	}
	nodes := make([]tree.Node, len(v.members))
	for i, m := range v.members {
		nodes[i] = tree.Node{Name: m.Name, Relay: !m.Role.Schedules()}
	}
	t, err := tree.Build(nodes, root, fanout)
	if err != nil {
		t = nil // root unknown in this view: no children to forward to
	}
	v.trees[root] = t
	return t
}

// gatherer picks the member that gathers key: rendezvous hashing, so when a
// member leaves only its own keys move. It is the origin's choice for the
// first item of each run Submit stamps (see gatherRun), and every member's
// for an item whose chosen gatherer left.
func (v *view) gatherer(key string) string { return v.gathererExcept(key) }

// backupGatherer is where a reporter sends its score for key when chosen,
// the gatherer the item names, is in the view but cannot be reached. It
// leaves out the key's own gatherer as well as chosen: a member that is the
// key's gatherer takes re-routed scores as its own item's (record.backup)
// and would decide at the deadline with them alone, racing the chosen
// gatherer, which is alive and decides with the rest. With no third
// member, the key's own gatherer it is.
func (v *view) backupGatherer(key, chosen string) string {
	if g := v.gathererExcept(key, chosen, v.gatherer(key)); g != "" {
		return g
	}
	return v.gathererExcept(key, chosen)
}

// gathererExcept is gatherer as if members except were gone.
func (v *view) gathererExcept(key string, except ...string) string {
	kh := hashString(key)
	best, bestScore := -1, uint64(0)
	for i, h := range v.hashes {
		if slices.Contains(except, v.members[i].Name) {
			continue
		}
		if s := mix64(kh ^ h); best < 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	if best < 0 {
		return ""
	}
	return v.members[best].Name
}

// hashString is FNV-1a 64: stable across processes and Go versions, which the
// gatherer choice needs (maphash is seeded per process).
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is the splitmix64 finalizer: spreads the combined hash so rendezvous
// scores are independent per member.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// encodeMeta is the gossip metadata of a member.
func encodeMeta(m Member) ([]byte, error) {
	return proto.Marshal(&relayv1.MemberMeta{
		Role:            m.Role.proto(),
		GrpcAddress:     m.GRPCAddr,
		ModuleVersion:   m.Version,
		ProtocolVersion: protocolVersion,
	})
}

func decodeMeta(name string, b []byte) (Member, error) {
	var meta relayv1.MemberMeta
	if err := proto.Unmarshal(b, &meta); err != nil {
		return Member{}, fmt.Errorf("member %s metadata: %w", name, err)
	}
	if meta.GetProtocolVersion() != protocolVersion {
		return Member{}, fmt.Errorf("member %s speaks relay protocol %d, this member %d", name, meta.GetProtocolVersion(), protocolVersion)
	}
	return Member{Name: name, Role: roleFromProto(meta.GetRole()), GRPCAddr: meta.GetGrpcAddress(), Version: meta.GetModuleVersion()}, nil
}

// delegate answers memberlist's questions about this member.
type delegate struct{ meta []byte }

func (d *delegate) NodeMeta(limit int) []byte {
	if len(d.meta) > limit {
		return nil // cannot happen with sane addresses; memberlist would panic on it
	}
	return d.meta
}
func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// events turns memberlist's callbacks into membership updates. memberlist calls
// them one at a time from its own goroutines.
type events struct{ r *Relay }

func (e events) NotifyJoin(n *memberlist.Node)   { e.r.memberUp(n, false) }
func (e events) NotifyUpdate(n *memberlist.Node) { e.r.memberUp(n, true) }
func (e events) NotifyLeave(n *memberlist.Node)  { e.r.memberDown(n.Name) }

// memberlistLogger routes memberlist's log lines into zerolog at debug level
// (warnings and errors at their own level), so operators read one format.
func memberlistLogger(zl zerolog.Logger) *log.Logger {
	return log.New(logWriter{log: zl.With().Str("component", "memberlist").Logger()}, "", 0)
}

type logWriter struct{ log zerolog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	ev := w.log.Debug()
	switch {
	case strings.Contains(line, "[ERR]"):
		ev = w.log.Error()
	case strings.Contains(line, "[WARN]"):
		ev = w.log.Warn()
	}
	ev.Msg(line)
	return len(p), nil
}
