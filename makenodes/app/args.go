package app

import (
	"strings"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The original make_nodes used Go's flag package: single-dash long flags in
// camelCase (-count 1000 -perKwokGroup 10000 -podsPerNode 32). makenodes uses
// cobra/pflag like every k8s1m binary, and accepts the original spelling in two
// steps: SingleDashArgs turns "-count" into "--count" before cobra parses, and
// normalizeName maps camelCase names to the kebab-case flags ("perKwokGroup" ->
// "per-kwok-group"), plus the original's podsPerNode -> pods.

// aliases are renamed flags of the original.
var aliases = map[string]string{"pods-per-node": "pods"}

// normalizeName is the pflag normalization function of every command.
func normalizeName(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	n := b.String()
	if a, ok := aliases[n]; ok {
		n = a
	}
	return pflag.NormalizedName(n)
}

// SingleDashArgs rewrites "-name" and "-name=value" to "--name..." when name is
// a long flag of some command in root's tree. Shorthands (-h) and anything
// after "--" are left alone, as are values that merely start with a dash.
func SingleDashArgs(root *cobra.Command, args []string) []string {
	known := map[string]bool{}
	var collect func(*cobra.Command)
	collect = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) { known[f.Name] = true })
		}
		for _, sub := range c.Commands() {
			collect(sub)
		}
	}
	collect(root)
	known["help"], known["version"] = true, true

	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if known[string(normalizeName(nil, name))] {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}
