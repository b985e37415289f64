// Package version reports what a k8s1m binary was built from: its module path,
// module version and VCS revision. The values come from the Go build info, and a
// release overrides them with -ldflags so a binary built from a tag says so even
// when the build info cannot (a workspace build reports "(devel)").
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at release time with
//
//	-ldflags "-X github.com/k8s1m/k8s1m/cli/version.override=v0.3.1 -X github.com/k8s1m/k8s1m/cli/version.revisionOverride=<sha>"
var (
	override         string
	revisionOverride string
)

// Info describes one binary.
type Info struct {
	Module    string `json:"module"`
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
}

// Get reads the build info of the running binary.
func Get() Info {
	info := Info{Module: "unknown", Version: "(devel)", Revision: "unknown", GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info.Module = bi.Main.Path
		if bi.Main.Version != "" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if override != "" {
		info.Version = override
	}
	if revisionOverride != "" {
		info.Revision = revisionOverride
		info.Modified = false
	}
	return info
}

// String is the one line printed by --version.
func (i Info) String() string {
	rev := i.Revision
	if i.Modified {
		rev += "-dirty"
	}
	return fmt.Sprintf("%s %s (revision %s, %s)", i.Module, i.Version, rev, i.GoVersion)
}
