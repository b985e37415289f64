// Command makenodes creates and deletes huge numbers of kwok nodes and pods, and
// runs the kwok controllers that keep the nodes alive.
package main

import (
	"os"

	"github.com/k8s1m/k8s1m/cli/command"
	"github.com/k8s1m/k8s1m/makenodes/app"
)

func main() {
	root := app.NewRoot()
	root.Cmd.SetArgs(app.SingleDashArgs(root.Cmd, os.Args[1:]))
	command.Execute(root.Cmd)
}
