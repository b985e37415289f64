package check

import (
	"fmt"
	"regexp"
	"strings"
)

// urlHost finds the host of every http(s) URL written literally.
var urlHost = regexp.MustCompile(`https?://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.${}_-]+)`)

// allowedHost says whether a literal URL host is not somebody's server:
// interpolated (a variable decides), a reserved example domain, a cloud's
// metadata service, or a cluster-internal name.
func allowedHost(h string) bool {
	switch {
	case strings.Contains(h, "${"), strings.HasSuffix(h, "."): // "${var.x}", "gw.<domain>" in prose
		return true
	case h == "localhost", h == "169.254.169.254", h == "[fd00:ec2::254]", h == "metadata.google.internal":
		return true
	case strings.HasSuffix(h, ".svc") || strings.HasSuffix(h, ".svc.cluster.local"):
		return true
	}
	for _, d := range []string{"example.org", "example.com", "example.net"} {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	return false
}

// Registries and file hosts that must only ever come from variables: public
// registries (rate limits, IPv4-only endpoints) and the original's personal
// servers.
var fixedHosts = []string{
	"docker.io", "gcr.io", "ghcr.io", "quay.io", "registry.k8s.io", "pkg.dev",
	"amazonaws.com", "azurecr.io", "r2.dev", "github.com", "githubusercontent.com", "bchess",
}

// HardCodedHosts lists the hosts src names that a deployment must take from
// its variables instead.
func HardCodedHosts(src string) []string {
	var bad []string
	for _, m := range urlHost.FindAllStringSubmatch(src, -1) {
		if !allowedHost(m[1]) {
			bad = append(bad, fmt.Sprintf("URL host %s", m[1]))
		}
	}
	for _, h := range fixedHosts {
		if strings.Contains(src, h) {
			bad = append(bad, fmt.Sprintf("host %s", h))
		}
	}
	return bad
}
