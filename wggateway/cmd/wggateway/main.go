// Command wggateway is the IPv6-to-IPv4 WireGuard gateway's config service;
// `wggateway client` is what a node runs to fetch its config and bring its
// tunnel up.
package main

import (
	"github.com/k8s1m/k8s1m/cli/command"
	"github.com/k8s1m/k8s1m/wggateway/client"
	"github.com/k8s1m/k8s1m/wggateway/gateway"
	"github.com/spf13/cobra"
)

func main() {
	root := command.NewRoot("wggateway", "IPv6 to IPv4 WireGuard gateway: hands out client configs over HTTP and carries their IPv4 traffic out with SNAT")
	cfg := gateway.DefaultConfig()
	cfg.AddFlags(root.Cmd.Flags())
	root.Cmd.RunE = func(c *cobra.Command, _ []string) error {
		log, err := root.Logger()
		if err != nil {
			return err
		}
		return gateway.Run(c.Context(), log, cfg)
	}

	ccfg := client.DefaultConfig()
	clientCmd := &cobra.Command{
		Use:   "client",
		Short: "fetch a WireGuard config from the gateway and bring the client side of the tunnel up",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := root.Logger()
			if err != nil {
				return err
			}
			return client.Run(c.Context(), log, ccfg)
		},
	}
	ccfg.AddFlags(clientCmd.Flags())
	root.Cmd.AddCommand(clientCmd)
	command.Execute(root.Cmd)
}
