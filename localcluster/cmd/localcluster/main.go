// Command localcluster: the whole k8s1m system on one machine, with its figures.
package main

import (
	"github.com/k8s1m/k8s1m/cli/command"
	"github.com/spf13/cobra"
)

func main() {
	root := command.NewRoot("localcluster", "the whole k8s1m system on one machine, with its figures")
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
