// Package promtext reads the few numbers localcluster needs from a Prometheus
// text exposition (a store's /metrics): the sum of a metric's samples over all
// label sets. It is deliberately small; it is not a full parser.
package promtext

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Samples maps a metric name to the sum of its samples (all label sets).
type Samples map[string]float64

// Parse reads a text exposition. Comment lines and malformed lines are skipped:
// a metric localcluster does not read must not fail the run.
func Parse(r io.Reader) (Samples, error) {
	out := Samples{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			j := strings.LastIndexByte(rest, '}')
			if j < 0 {
				continue
			}
			rest = rest[j+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return out, nil
}

// Fetch GETs url and parses it.
func Fetch(ctx context.Context, url string) (Samples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics %s: %s", url, resp.Status)
	}
	s, err := Parse(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", url, err)
	}
	return s, nil
}

// writeFamilies are the counters that count store writes, in order of
// preference. etcd exports both the etcd_mvcc and the older etcd_debugging_mvcc
// names; memetcd exports etcd's names. Only the first family present is used so
// a store exporting both is not counted twice.
var writeFamilies = [][]string{
	{"etcd_mvcc_put_total", "etcd_mvcc_delete_total"},
	{"etcd_debugging_mvcc_put_total", "etcd_debugging_mvcc_delete_total"},
}

// Writes returns the store's write count (puts + deletes) and whether any known
// write counter was present.
func (s Samples) Writes() (float64, bool) {
	for _, fam := range writeFamilies {
		if _, ok := s[fam[0]]; !ok {
			continue
		}
		var sum float64
		for _, name := range fam {
			sum += s[name]
		}
		return sum, true
	}
	return 0, false
}

// Labelled sums the samples of one metric by the values of the given label
// keys, joined with "/" (a missing label counts as ""): for example
// apiserver_request_total by verb and resource.
func Labelled(r io.Reader, metric string, keys ...string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, metric+"{")
		if !ok {
			continue
		}
		j := strings.LastIndexByte(rest, '}')
		if j < 0 {
			continue
		}
		fields := strings.Fields(rest[j+1:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		labels := parseLabels(rest[:j])
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = labels[k]
		}
		out[strings.Join(vals, "/")] += v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return out, nil
}

// parseLabels reads `a="x",b="y"` (values without escaped quotes, which the
// label values read here never have).
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, `="`)
		if !ok {
			break
		}
		v, rest, ok := strings.Cut(rest, `"`)
		if !ok {
			break
		}
		out[strings.TrimLeft(k, ", ")] = v
		s = rest
	}
	return out
}
