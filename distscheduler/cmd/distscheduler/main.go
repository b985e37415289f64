// Command distscheduler: Kubernetes default scheduler sharded over many replicas.
package main

import (
	"github.com/k8s1m/k8s1m/cli/command"
	"github.com/spf13/cobra"
)

func main() {
	root := command.NewRoot("distscheduler", "Kubernetes default scheduler sharded over many replicas")
	root.Cmd.RunE = func(c *cobra.Command, _ []string) error {
		log, err := root.Logger()
		if err != nil {
			return err
		}
		log.Info().Msg("not implemented yet")
		<-c.Context().Done()
		return nil
	}
	command.Execute(root.Cmd)
}
