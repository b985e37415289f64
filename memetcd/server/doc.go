// Package server is memetcd's etcd v3 gRPC front end: it translates the KV,
// Watch, Lease, Maintenance and Cluster services of go.etcd.io/etcd/api/v3 into
// calls on a store.Store, waits for the journal before acknowledging writes,
// and answers everything outside the subset Kubernetes and etcdctl use with
// codes.Unimplemented. Errors are etcd's own (rpctypes), so clients branch on
// them exactly as they do against etcd.
package server
