package check

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// RepoVersions is what versions.txt records: each module's release and the
// third-party pins. (tools/release owns the file; it is not released, so this
// module reads the two line kinds it needs itself.)
type RepoVersions struct {
	Modules map[string]string // module dir => released version
	Pins    map[string]string // module path or family => version
}

// LoadRepoVersions reads versions.txt.
func LoadRepoVersions(path string) (*RepoVersions, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v := &RepoVersions{Modules: map[string]string{}, Pins: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch {
		case f[0] == "module" && len(f) == 4:
			v.Modules[f[1]] = f[2]
		case f[0] == "pin" && len(f) == 3:
			v.Pins[f[1]] = f[2]
		default:
			return nil, fmt.Errorf("%s:%d: cannot read %q", path, n, sc.Text())
		}
	}
	return v, sc.Err()
}
