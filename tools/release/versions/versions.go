// Package versions reads and writes versions.txt, the single source of truth for
// every k8s1m module's released version and for the third-party pins
// (Kubernetes, etcd, kwok, code generators) the modules must agree on.
package versions

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/semver"
)

// ModulePathPrefix is the import path every module directory lives under.
const ModulePathPrefix = "github.com/k8s1m/k8s1m/"

// Release is one module's latest released version.
type Release struct {
	Dir     string // directory at the repository root, e.g. "memetcd"
	Version string // semver with leading v
	Commit  string // full commit hash the version was cut from
}

// Path is the module path.
func (r Release) Path() string { return ModulePathPrefix + r.Dir }

// Tag is the git tag Go expects for a module in a subdirectory.
func (r Release) Tag() string { return r.Dir + "/" + r.Version }

// File is the parsed versions file. Lines other than module and pin lines
// (comments, blanks) are kept so that writing it back changes only what changed.
type File struct {
	lines    []string
	Releases []Release
	Pins     map[string]string // name -> version
}

// Load parses path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read versions file: %w", err)
	}
	return Parse(data)
}

// Parse parses the contents of a versions file.
func Parse(data []byte) (*File, error) {
	f := &File{Pins: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		f.lines = append(f.lines, line)
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch fields[0] {
		case "module":
			if len(fields) != 4 {
				return nil, fmt.Errorf("line %d: want \"module <dir> <version> <commit>\", got %q", n, line)
			}
			r := Release{Dir: fields[1], Version: fields[2], Commit: fields[3]}
			if !semver.IsValid(r.Version) {
				return nil, fmt.Errorf("line %d: %q is not a semantic version", n, r.Version)
			}
			if _, ok := f.Release(r.Dir); ok {
				return nil, fmt.Errorf("line %d: module %s listed twice", n, r.Dir)
			}
			f.Releases = append(f.Releases, r)
		case "pin":
			if len(fields) != 3 {
				return nil, fmt.Errorf("line %d: want \"pin <name> <version>\", got %q", n, line)
			}
			f.Pins[fields[1]] = fields[2]
		default:
			return nil, fmt.Errorf("line %d: unknown entry %q", n, fields[0])
		}
	}
	return f, sc.Err()
}

// Release returns the released version of module dir.
func (f *File) Release(dir string) (Release, bool) {
	for _, r := range f.Releases {
		if r.Dir == dir {
			return r, true
		}
	}
	return Release{}, false
}

// Set records a new release of r.Dir, replacing the old line or adding one after
// the last module line.
func (f *File) Set(r Release) {
	line := fmt.Sprintf("module %s %s %s", r.Dir, r.Version, r.Commit)
	last := -1
	for i, l := range f.lines {
		fields := strings.Fields(l)
		if len(fields) > 1 && fields[0] == "module" {
			last = i
			if fields[1] == r.Dir {
				f.lines[i] = line
				f.replace(r)
				return
			}
		}
	}
	f.lines = append(f.lines[:last+1], append([]string{line}, f.lines[last+1:]...)...)
	f.Releases = append(f.Releases, r)
}

func (f *File) replace(r Release) {
	for i := range f.Releases {
		if f.Releases[i].Dir == r.Dir {
			f.Releases[i] = r
		}
	}
}

// Bytes renders the file.
func (f *File) Bytes() []byte {
	return []byte(strings.Join(f.lines, "\n") + "\n")
}
