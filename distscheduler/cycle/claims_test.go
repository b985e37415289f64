package cycle

import "testing"

func TestClaimsHoldBusyNodes(t *testing.T) {
	c := newClaims(2)
	seen := c.begin(0)
	if !c.claim("n1", seen) {
		t.Fatal("first claim of a free node refused")
	}
	if !c.isBusy("n1") || c.claim("n1", seen) {
		t.Fatal("a held node is not busy, or was claimed twice")
	}
	c.release("n1")
	if c.isBusy("n1") || !c.claim("n1", seen) {
		t.Fatal("a released node stays busy")
	}
}

// A loop whose snapshot was taken before a pod was assumed on a node must
// not bid on that node; one whose snapshot came after may.
func TestClaimsRefuseNodesAssumedSinceTheSnapshot(t *testing.T) {
	c := newClaims(2)
	stale := c.begin(0)
	c.assumedOn("n1")
	if c.claim("n1", stale) {
		t.Fatal("claim on a snapshot older than the node's assume accepted")
	}
	if !c.claim("n2", stale) {
		t.Fatal("claim of another node refused")
	}
	fresh := c.begin(1)
	if !c.claim("n1", fresh) {
		t.Fatal("claim on a snapshot that holds the assume refused")
	}
}

// Stamps are dropped once no open search is older than them, and kept
// while one is.
func TestClaimsForgetStampsNoSearchNeeds(t *testing.T) {
	c := newClaims(2)
	old := c.begin(0) // stays open throughout
	c.assumedOn("n0")
	for range pruneEvery {
		c.assumedOn("busy-node")
	}
	if _, ok := c.assumed["n0"]; !ok {
		t.Fatal("stamp dropped while a search older than it is open")
	}
	if c.claim("n0", old) {
		t.Fatal("the open search could claim a node assumed after its snapshot")
	}
	c.end(0)
	for range pruneEvery {
		c.assumedOn("busy-node")
	}
	if _, ok := c.assumed["n0"]; ok || len(c.assumed) > 1 {
		t.Fatalf("old stamps kept with no search open: %v", c.assumed)
	}
}
