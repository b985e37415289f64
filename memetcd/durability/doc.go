// Package durability proves, against the real memetcd binary, what the WAL
// promises: acknowledged writes survive SIGKILL (crash_test.go), concurrent
// client histories are linearizable (linearizability_test.go), watches see
// every revision once and in order, also after a restart (watch_test.go), and
// a real kube-apiserver's objects come back after both restart
// (apiserver_test.go). proc.go starts and kills the binary; the tests build
// it from this module so they always test the code beside them.
package durability
