// Package e2e holds the end-to-end test of wggateway: a gateway, a client and
// an "internet" host in three network namespaces the test creates, joined by
// veth pairs, with a real (userspace) WireGuard tunnel between client and
// gateway. It has no non-test code.
package e2e
