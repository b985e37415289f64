package check

import (
	"regexp"
	"sort"
	"strings"
)

var (
	promStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers  = regexp.MustCompile(`\{[^{}]*\}`)
	promRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent     = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`)
	promKeywords  = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "and": true, "or": true, "unless": true, "offset": true, "bool": true, "group_left": true, "group_right": true, "inf": true, "nan": true}
	grafanaMacros = regexp.MustCompile(`\$\{?__[A-Za-z_]+\}?|\$\{?[A-Za-z_]+\}?`)
)

// MetricNames returns the metric names a PromQL expression selects: what is
// left after removing strings, label matchers, ranges, grouping clauses,
// function names, keywords and numbers.
func MetricNames(expr string) []string {
	e := grafanaMacros.ReplaceAllString(expr, "1m")
	e = promStrings.ReplaceAllString(e, " ")
	e = promMatchers.ReplaceAllString(e, " ")
	e = promRanges.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	seen := map[string]bool{}
	for _, m := range promIdent.FindAllStringSubmatchIndex(e, -1) {
		tok := e[m[0]:m[1]]
		if m[2] >= 0 { // followed by "(": a function or aggregation
			continue
		}
		if promKeywords[strings.ToLower(tok)] {
			continue
		}
		// Durations and numbers ("1m", "0.99") start with a digit and never
		// match promIdent's first character; "1m" leaves "m".
		if m[0] > 0 && e[m[0]-1] >= '0' && e[m[0]-1] <= '9' {
			continue
		}
		seen[tok] = true
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ExposedNames returns the sample names in a Prometheus text exposition.
func ExposedNames(body string) map[string]bool {
	names := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end < 0 {
			end = len(line)
		}
		names[line[:end]] = true
	}
	return names
}
