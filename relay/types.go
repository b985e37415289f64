package relay

import (
	"runtime/debug"
	"strconv"
	"time"

	relayv1 "github.com/k8s1m/k8s1m/proto/relay/v1"
)

// Role is what a member does in the tree.
type Role int

const (
	// RoleRelayOnly members forward items and gather, never schedule; the tree
	// puts them on inner levels first.
	RoleRelayOnly Role = iota + 1
	// RoleScheduler members schedule (receive items and report scores).
	RoleScheduler
	// RoleLeaderEligible members schedule and may be named the root.
	RoleLeaderEligible
)

// Schedules reports whether members of this role handle items and report.
func (r Role) Schedules() bool { return r == RoleScheduler || r == RoleLeaderEligible }

func (r Role) valid() bool { return r >= RoleRelayOnly && r <= RoleLeaderEligible }

// String is the role's flag spelling.
func (r Role) String() string {
	switch r {
	case RoleRelayOnly:
		return "relay-only"
	case RoleScheduler:
		return "scheduler"
	case RoleLeaderEligible:
		return "leader-eligible"
	}
	return "unknown"
}

// ParseRole reads a role's flag spelling.
func ParseRole(s string) (Role, bool) {
	for _, r := range []Role{RoleRelayOnly, RoleScheduler, RoleLeaderEligible} {
		if r.String() == s {
			return r, true
		}
	}
	return 0, false
}

func (r Role) proto() relayv1.Role {
	switch r {
	case RoleScheduler:
		return relayv1.Role_ROLE_SCHEDULER
	case RoleLeaderEligible:
		return relayv1.Role_ROLE_LEADER_ELIGIBLE
	}
	return relayv1.Role_ROLE_RELAY_ONLY
}

func roleFromProto(r relayv1.Role) Role {
	switch r {
	case relayv1.Role_ROLE_SCHEDULER:
		return RoleScheduler
	case relayv1.Role_ROLE_LEADER_ELIGIBLE:
		return RoleLeaderEligible
	}
	return RoleRelayOnly
}

// Member is one process in the cluster as gossip describes it.
type Member struct {
	Name     string
	Role     Role
	GRPCAddr string
	Version  string
}

// Item is one unit of work travelling down the tree.
type Item struct {
	// RequestID identifies the item together with Origin; Submit assigns one
	// when it is zero.
	RequestID uint64
	// Key names the object ("namespace/name"); the gatherer is hashed from it.
	Key string
	// Payload is opaque to the relay.
	Payload []byte
	// Deadline is when the gatherer decides with the reports it has; Submit
	// sets now+DefaultDeadline when it is zero.
	Deadline time.Time
	// Origin is the member that submitted the item (set by Submit).
	Origin string
	// Gatherer is the member that collects scores (set by Submit).
	Gatherer string
	// Submitted is when the origin submitted the item (set by Submit).
	Submitted time.Time
}

// Score is a scheduling member's answer for an item.
type Score struct {
	// Node is the member's best node; empty with NoFeasibleNode.
	Node string
	// Score of Node; higher is better.
	Score int64
	// NoFeasibleNode says the member has no node that fits; Reason says why.
	NoFeasibleNode bool
	Reason         string
}

// Verdict is the gatherer's answer to one reporter.
type Verdict struct {
	RequestID uint64
	Key       string
	Origin    string
	// Win: this member's node was chosen; go ahead (bind). Otherwise drop it.
	Win bool
	// Reason is set when the verdict was not the gatherer's (no verdict arrived
	// within the deadline plus VerdictGrace, or the member is shutting down).
	Reason string
}

// Decision is the final outcome of one item, delivered once to its origin.
type Decision struct {
	RequestID uint64
	Key       string
	// Winner is the member told to go ahead; empty when there is none.
	Winner string
	Node   string
	Score  int64
	// Reports is how many members reported before the decision; Stragglers how
	// many expected members had not.
	Reports    int
	Stragglers int
	// NoWinner says why there is no winner (NoWinnerNone when there is
	// one), and Reason in words: with NoFeasibleNode the members' own reason
	// as reported (Score.Reason), unchanged.
	NoWinner NoWinner
	Reason   string
	// Gatherer is the member that decided (the origin itself for a backstop
	// decision).
	Gatherer string
}

// NoWinner is why a Decision names no winner. Its values are the wire
// enum's (relayv1.NoWinner) numbers.
type NoWinner int32

const (
	// NoWinnerNone: the decision has a winner.
	NoWinnerNone NoWinner = iota
	// NoFeasibleNode: members reported, none with a node that fits.
	NoFeasibleNode
	// NoReports: no member reported before the deadline.
	NoReports
	// NoDecision: the origin heard from no gatherer in time and decided
	// itself.
	NoDecision
)

func (n NoWinner) String() string {
	switch n {
	case NoWinnerNone:
		return "none"
	case NoFeasibleNode:
		return "no_feasible_node"
	case NoReports:
		return "no_reports"
	case NoDecision:
		return "no_decision"
	}
	return "NoWinner(" + strconv.Itoa(int(n)) + ")"
}

// Handler receives items on scheduling members. HandleItem is called from the
// receiving stream: it must not block (queue the item and return).
type Handler interface {
	HandleItem(Item)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(Item)

// HandleItem calls f.
func (f HandlerFunc) HandleItem(it Item) { f(it) }

// DecisionHandler receives decisions at the origin; it must not block.
type DecisionHandler interface {
	HandleDecision(Decision)
}

// DecisionFunc adapts a function to DecisionHandler.
type DecisionFunc func(Decision)

// HandleDecision calls f.
func (f DecisionFunc) HandleDecision(d Decision) { f(d) }

// EventHandler is told about membership changes; calls must not block.
type EventHandler interface {
	MemberJoined(Member)
	MemberLeft(Member)
	MemberUpdated(Member)
}

// moduleVersion is the relay module's version from the build info.
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	if bi.Main.Path == "github.com/k8s1m/k8s1m/relay" && bi.Main.Version != "" {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/k8s1m/k8s1m/relay" {
			return d.Version
		}
	}
	return "(devel)"
}

func itemToProto(it *Item) *relayv1.Item {
	return &relayv1.Item{
		RequestId:        it.RequestID,
		Key:              it.Key,
		Payload:          it.Payload,
		DeadlineUnixNano: it.Deadline.UnixNano(),
		Origin:           it.Origin,
		Gatherer:         it.Gatherer,
		SubmitUnixNano:   it.Submitted.UnixNano(),
	}
}

func itemFromProto(p *relayv1.Item) Item {
	return Item{
		RequestID: p.GetRequestId(),
		Key:       p.GetKey(),
		Payload:   p.GetPayload(),
		Deadline:  time.Unix(0, p.GetDeadlineUnixNano()),
		Origin:    p.GetOrigin(),
		Gatherer:  p.GetGatherer(),
		Submitted: time.Unix(0, p.GetSubmitUnixNano()),
	}
}

// itemID identifies an item cluster-wide.
type itemID struct {
	origin string
	id     uint64
}
