package cluster

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/k8s1m/k8s1m/harness/store"
)

// Store split: the resources that write most (node Leases, Events, Pods) each
// get a memetcd of their own, and kube-apiserver reaches them through
// --etcd-servers-overrides; everything else stays on the default store. This
// is the layout the original used at a million nodes, and what a store per
// machine costs is measured per instance (memetcd/BENCHMARKS.md).

// SplitPart is one resource group moved to a memetcd of its own.
type SplitPart struct {
	// Name is the part's short name ("leases"): the --store-split-wal key and
	// the process name's suffix (memetcd-leases).
	Name string
	// Resources are kube-apiserver's override keys, group/resource with an
	// empty group for the core API ("/pods").
	Resources []string
	// Prefix is where kube-apiserver keeps the resources' keys.
	Prefix string
	// DefaultWAL is the part's memetcd --wal-default unless overridden:
	// Leases are rewritten every 10 s by their holder and Events expire by
	// themselves, so losing them in a crash costs nothing a restart does not
	// rebuild; Pods are state the cluster cannot recreate.
	DefaultWAL string
}

// SplitParts are the parts --store-split starts, in start order.
var SplitParts = []SplitPart{
	{Name: "leases", Resources: []string{"coordination.k8s.io/leases"}, Prefix: "/registry/leases/", DefaultWAL: "none"},
	// events.k8s.io/events is the same objects under the same keys as core
	// events; both names must point at one store.
	{Name: "events", Resources: []string{"/events", "events.k8s.io/events"}, Prefix: "/registry/events/", DefaultWAL: "none"},
	{Name: "pods", Resources: []string{"/pods"}, Prefix: "/registry/pods/", DefaultWAL: "buffered"},
}

// SplitStore is a started part of the split.
type SplitStore struct {
	Part  SplitPart
	Store *store.Store
}

// CheckSplitWAL refuses --store-split-wal keys that name no part and values
// that are no WAL mode, so a typo is an error and not a silently durable or
// silently volatile store.
func CheckSplitWAL(modes map[string]string) error {
	for name, mode := range modes {
		if !slices.ContainsFunc(SplitParts, func(p SplitPart) bool { return p.Name == name }) {
			return fmt.Errorf("--store-split-wal %s=%s: no such part, want one of %s", name, mode, splitPartNames())
		}
		switch mode {
		case "none", "buffered", "fsync":
		default:
			return fmt.Errorf("--store-split-wal %s=%s: want none, buffered or fsync", name, mode)
		}
	}
	return nil
}

func splitPartNames() string {
	var names []string
	for _, p := range SplitParts {
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ")
}

// startSplitStores starts one memetcd per SplitPart next to the default
// store, each with its WAL mode (c.cfg.SplitWAL over the part's default).
func (c *Cluster) startSplitStores(ctx context.Context) error {
	bin, err := c.bin(string(store.Memetcd))
	if err != nil {
		return err
	}
	for _, part := range SplitParts {
		mode := part.DefaultWAL
		if m, ok := c.cfg.SplitWAL[part.Name]; ok {
			mode = m
		}
		name := string(store.Memetcd) + "-" + part.Name
		s, err := store.Start(ctx, store.Config{
			Kind:           store.Memetcd,
			Bin:            bin,
			Name:           name,
			RunDir:         c.cfg.RunDir,
			ExtraArgs:      append([]string{"--wal-default=" + mode}, c.cfg.StoreArgs...),
			KillWithParent: c.cfg.KillWithParent,
		})
		if err != nil {
			return fmt.Errorf("store %s: %w", name, err)
		}
		c.Split = append(c.Split, SplitStore{Part: part, Store: s})
		c.started(s.Proc, "store")
	}
	return nil
}

// serverOverrides is kube-apiserver's --etcd-servers-overrides for the split
// stores: "group/resource#url" entries, comma separated, sorted so the flag
// reads the same in every run.
func serverOverrides(split []SplitStore) string {
	var entries []string
	for _, s := range split {
		for _, r := range s.Part.Resources {
			entries = append(entries, r+"#"+s.Store.Endpoint)
		}
	}
	sort.Strings(entries)
	return strings.Join(entries, ",")
}

// Stores returns every store of the cluster: the default one first, then the
// split parts.
func (c *Cluster) Stores() []*store.Store {
	out := []*store.Store{c.Store}
	for _, s := range c.Split {
		out = append(out, s.Store)
	}
	return out
}
