package wal

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/k8s1m/k8s1m/memetcd/keys"
)

// DefaultResourceRoot is where kube-apiserver keeps its objects.
const DefaultResourceRoot = keys.ResourceRoot

// Routing decides, for every key, which WAL prefix (and so which segment
// series) its writes go to and how durable they are.
//
// The rule, longest match first:
//
//  1. The file prefix of a key is the longest of: every configured prefix
//     (Prefixes) that the key starts with, and the key's resource prefix.
//  2. The resource prefix of a key under ResourceRoot is one Kubernetes
//     resource, keys.ResourcePrefix: /registry/pods/ns/name -> /registry/pods/,
//     /registry/example.com/widgets/ns/name -> /registry/example.com/widgets/
//     (the store's shards split keys the same way).
//  3. Keys that match nothing go to the catch-all prefix "".
//  4. The mode of a key is the mode of the longest configured prefix it starts
//     with, or Default. A no-write prefix is a configured prefix of mode none.
//
// So by default every resource kind gets its own file, and a mode set on a
// shorter prefix (say /registry/=fsync) covers all the files beneath it.
type Routing struct {
	// Default is the mode of keys that match no configured prefix.
	Default Mode
	// Prefixes maps configured prefixes to their mode (--wal-prefix-mode,
	// --wal-no-write-prefix as ModeNone).
	Prefixes map[string]Mode
	// ResourceRoot is the root under which keys are split per resource; empty
	// turns per-resource files off (everything unconfigured goes to "").
	ResourceRoot string

	// sorted holds Prefixes longest first, so the first match is the longest.
	sorted []prefixMode
}

type prefixMode struct {
	prefix []byte
	mode   Mode
}

// ParsePrefixModes reads "prefix=mode" pairs (the --wal-prefix-mode values)
// and no-write prefixes into a prefix table. A prefix given twice is an error:
// the operator meant one of them.
func ParsePrefixModes(pairs []string, noWrite []string) (map[string]Mode, error) {
	out := make(map[string]Mode, len(pairs)+len(noWrite))
	for _, p := range pairs {
		i := strings.LastIndexByte(p, '=')
		if i <= 0 {
			return nil, fmt.Errorf("wal prefix mode %q: want <prefix>=<none|buffered|fsync>", p)
		}
		m, err := ParseMode(p[i+1:])
		if err != nil {
			return nil, fmt.Errorf("wal prefix mode %q: %w", p, err)
		}
		if _, dup := out[p[:i]]; dup {
			return nil, fmt.Errorf("wal prefix %q given twice", p[:i])
		}
		out[p[:i]] = m
	}
	for _, p := range noWrite {
		if p == "" {
			return nil, fmt.Errorf("wal no-write prefix is empty: use --wal-default=none to write nothing")
		}
		if _, dup := out[p]; dup {
			return nil, fmt.Errorf("wal prefix %q given twice", p)
		}
		out[p] = ModeNone
	}
	return out, nil
}

// compile sorts the configured prefixes; call once before Route.
func (r *Routing) compile() {
	r.sorted = r.sorted[:0]
	for p, m := range r.Prefixes {
		r.sorted = append(r.sorted, prefixMode{prefix: []byte(p), mode: m})
	}
	sort.Slice(r.sorted, func(i, j int) bool {
		if len(r.sorted[i].prefix) != len(r.sorted[j].prefix) {
			return len(r.sorted[i].prefix) > len(r.sorted[j].prefix)
		}
		return bytes.Compare(r.sorted[i].prefix, r.sorted[j].prefix) < 0
	})
}

// Route returns the file prefix of key (a sub-slice of key, so no allocation)
// and its mode.
func (r *Routing) Route(key []byte) (prefix []byte, mode Mode) {
	mode = r.Default
	var configured []byte
	for _, pm := range r.sorted {
		if bytes.HasPrefix(key, pm.prefix) {
			configured, mode = key[:len(pm.prefix)], pm.mode
			break
		}
	}
	res := keys.ResourcePrefix(key, r.ResourceRoot)
	if len(res) > len(configured) {
		return res, mode
	}
	return configured, mode
}
