package main

import (
	"fmt"
	"os"

	"github.com/k8s1m/k8s1m/tools/release/modproxy"
	"github.com/k8s1m/k8s1m/tools/release/versions"
)

func main() {
	f, err := versions.Load("versions.txt")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := modproxy.Write(os.Args[1], ".", f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
