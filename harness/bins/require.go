package bins

import "testing"

// RequireBinary returns the path of binary name for a test. When it is missing
// the test is skipped with the make target to run, or fails when
// K8S1M_REQUIRE_BINARIES=1 (CI), so a missing build never passes silently there.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := Path(name)
	if err == nil {
		return p
	}
	if Required() {
		t.Fatalf("%v (%s=1)", err, EnvRequire)
	}
	t.Skipf("skipping: %v", err)
	return ""
}
