package app

import (
	"fmt"
	"io"
)

// printUsage tells the person who ran `up` how to use the cluster left
// running and how to stop it, as lines to copy.
func printUsage(w io.Writer, kubeconfig, runsDir string) {
	fmt.Fprintf(w, "\nThe cluster is left running. To use it:\n\n")
	fmt.Fprintf(w, "  export KUBECONFIG=%s\n", kubeconfig)
	fmt.Fprintf(w, "  kubectl get nodes\n\n")
	fmt.Fprintf(w, "Stop it with:\n\n")
	fmt.Fprintf(w, "  localcluster down --runs-dir %s\n", runsDir)
}
