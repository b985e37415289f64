package main

import "time"

// defaultLease is client-go's usual leader election timing.
var defaultLease = struct{ duration, renew, retry time.Duration }{15 * time.Second, 10 * time.Second, 2 * time.Second}
