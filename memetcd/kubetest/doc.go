// Package kubetest holds the end-to-end tests that run a real kube-apiserver
// (the binary built by `make bin/kube-apiserver`) with memetcd as its only
// store. It has no non-test code.
package kubetest
