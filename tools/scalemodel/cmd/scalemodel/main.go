// Command scalemodel predicts what a k8s1m cluster of N nodes and P pods needs
// from the per-unit costs measured on the development machine.
package main

import (
	"github.com/k8s1m/k8s1m/cli/command"
	"github.com/k8s1m/k8s1m/tools/scalemodel/app"
)

func main() { command.Execute(app.NewRoot().Cmd) }
