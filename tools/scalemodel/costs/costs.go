// Package costs reads the per-unit costs the model is built on: one data file
// (docs/scale-costs.json) in which every figure carries its unit and where it
// was measured, so a reader can check each number against its BENCHMARKS.md
// section and an engineer can update one figure on one line.
package costs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
)

// Figure is one measured or derived per-unit cost.
type Figure struct {
	Value   float64 `json:"value"`
	Unit    string  `json:"unit"`
	Source  string  `json:"source"`
	Command string  `json:"command"`
	Date    string  `json:"date"`
	How     string  `json:"how"`
}

// Figures holds every figure the model uses; the JSON names are the file's keys.
// CPU figures are CPU time on the 2-core development VM.
type Figures struct {
	// distscheduler member
	SchedFixedMs         Figure `json:"sched_fixed_ms"`          // F
	SchedShardMsPer1K    Figure `json:"sched_shard_ms_per_1k"`   // c
	SchedSerialShare     Figure `json:"sched_serial_share"`      // share of F on the scheduling goroutine
	SchedPlainUsPerNode  Figure `json:"sched_plain_us_per_node"` // plain pods: filter+score per node evaluated
	SchedRSSBaseMiB      Figure `json:"sched_rss_base_mib"`
	SchedRSSKiBShardNode Figure `json:"sched_rss_kib_per_shard_node"`
	SchedRSSKiBPerPod    Figure `json:"sched_rss_kib_per_pod"`

	// relay tree and gossip
	RelayUsPerMsg   Figure `json:"relay_us_per_message"`
	RelayHopMs      Figure `json:"relay_hop_ms"`
	GossipMsPerS    Figure `json:"gossip_ms_per_s"`
	GossipBytesPerS Figure `json:"gossip_bytes_per_s"`

	// kube-apiserver
	APINodeCreateMs  Figure `json:"api_node_create_ms"`
	APIPodCreateMs   Figure `json:"api_pod_create_ms"`
	APILeaseUpdateMs Figure `json:"api_lease_update_ms"`
	APIOtherWriteMs  Figure `json:"api_other_write_ms"`
	APIWatchEventUs  Figure `json:"api_watch_event_us"`
	// MemberPodEvents may be zero: once members get pods from the tree only,
	// they no longer watch every pod.
	MemberPodEvents    Figure `json:"member_pod_events" zero:"allowed"`
	APIRSSBaseMiB      Figure `json:"api_rss_base_mib"`
	APIRSSKiBPerObject Figure `json:"api_rss_kib_per_object"`

	// memetcd
	StoreCreateMs         Figure `json:"store_create_ms"`
	StoreUpdateMs         Figure `json:"store_update_ms"`
	StoreSerialUs         Figure `json:"store_serial_us"`
	StoreRSSBaseMiB       Figure `json:"store_rss_base_mib"`
	StoreRSSKiBPerObject  Figure `json:"store_rss_kib_per_object"`
	StoreKeyOverheadBytes Figure `json:"store_key_overhead_bytes"`
	StoreHistoryBytes     Figure `json:"store_history_bytes"`

	// kwok and the node workload
	KwokLeaseMs       Figure `json:"kwok_lease_ms"`
	KwokObjectMs      Figure `json:"kwok_object_ms"`
	KwokRSSBaseMiB    Figure `json:"kwok_rss_base_mib"`
	KwokRSSKiBPerNode Figure `json:"kwok_rss_kib_per_node"`
	KwokRenewalsPerS  Figure `json:"kwok_renewals_per_s"`
	NodeStatusPatches Figure `json:"node_status_patches"`
	NodeHeartbeatS    Figure `json:"node_heartbeat_s"`
	MakenodesObjectMs Figure `json:"makenodes_object_ms"`

	// stored object sizes
	NodeBytes  Figure `json:"node_bytes"`
	PodBytes   Figure `json:"pod_bytes"`
	LeaseBytes Figure `json:"lease_bytes"`
	EventBytes Figure `json:"event_bytes"`

	// this machine
	LocalCores Figure `json:"local_cores"`
	// LocalAPICores is the share of them the one kube-apiserver gets.
	LocalAPICores Figure `json:"local_api_cores"`
}

// Run is one measured localcluster run the model is checked against. A zero
// figure was not measured.
type Run struct {
	Name           string  `json:"name"`
	Nodes          int     `json:"nodes"`
	Pods           int     `json:"pods"`
	LeaseDurationS float64 `json:"lease_duration_s"`
	PodsPerS       float64 `json:"pods_per_s"`
	NodesPhaseS    float64 `json:"nodes_phase_s,omitempty"`
	RSSMiB         float64 `json:"rss_mib,omitempty"`
	// CPUSeconds is each process's CPU over the whole run, by process:
	// "kube-apiserver", "memetcd", "kwok", "distscheduler".
	CPUSeconds map[string]float64 `json:"cpu_s,omitempty"`
	Source     string             `json:"source"`
}

// File is the whole data file.
type File struct {
	About   string  `json:"about"`
	Figures Figures `json:"figures"`
	Runs    []Run   `json:"localcluster_runs"`
}

// DefaultPath is where the data file lives, relative to the repository root.
const DefaultPath = "docs/scale-costs.json"

// Load reads and validates the data file at path.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read costs: %w", err)
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("costs %s: %w", path, err)
	}
	return f, nil
}

// Parse decodes and validates a data file. Unknown keys are refused, so a
// misspelt figure is an error rather than a figure silently left at zero.
func Parse(b []byte) (*File, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// validate checks that every figure is present, positive and says where it
// came from, and that every run names its size and source.
func (f *File) validate() error {
	var errs []error
	v := reflect.ValueOf(f.Figures)
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		fig := v.Field(i).Interface().(Figure)
		zeroOK := t.Field(i).Tag.Get("zero") == "allowed"
		switch {
		case fig.Value < 0 || (fig.Value == 0 && !zeroOK):
			errs = append(errs, fmt.Errorf("figure %s: value %v must be positive (missing from the file?)", name, fig.Value))
		case fig.Unit == "" || fig.Source == "" || fig.Date == "" || fig.How == "":
			errs = append(errs, fmt.Errorf("figure %s: unit, source, date and how are all required", name))
		}
	}
	if s := f.Figures.SchedSerialShare.Value; s > 1 {
		errs = append(errs, fmt.Errorf("figure sched_serial_share: %v is a share, at most 1", s))
	}
	for i, r := range f.Runs {
		if r.Name == "" || r.Nodes <= 0 || r.Pods <= 0 || r.LeaseDurationS <= 0 || r.PodsPerS <= 0 || r.Source == "" {
			errs = append(errs, fmt.Errorf("localcluster run %d (%q): name, nodes, pods, lease_duration_s, pods_per_s and source are required", i, r.Name))
		}
	}
	return errors.Join(errs...)
}

// Set changes one figure's value by its name in the file, for what-if runs
// (scalemodel --set sched_fixed_ms=0.25).
func (f *Figures) Set(name string, value float64) error {
	v := reflect.ValueOf(f).Elem()
	t := v.Type()
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); tag == name {
			if value < 0 || (value == 0 && t.Field(i).Tag.Get("zero") != "allowed") {
				return fmt.Errorf("figure %s: value %v must be positive", name, value)
			}
			fig := v.Field(i).Addr().Interface().(*Figure)
			fig.Value = value
			return nil
		}
	}
	return fmt.Errorf("no figure %q in the costs file", name)
}
