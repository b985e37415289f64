// Package conformance runs Kubernetes' own storage conformance tests
// (k8s.io/apiserver/pkg/storage/testing) against memetcd: the real etcd3
// storage layer kube-apiserver uses, on a clientv3 connected over loopback to
// an in-process memetcd. It holds only tests; compiling them pulls in
// k8s.io/apiserver, so run them under the heavy-build lock.
package conformance
