// Package measure holds the measurement run behind BENCHMARKS.md (in its test
// file): nodes/s and pods/s that the makenodes binary reaches against a real
// kube-apiserver on etcd and on memetcd in the same run, the CPU the tool, the
// apiserver and the store spent on it, and the write load that kwok-simulated
// nodes put on the store by renewing their leases.
package measure
