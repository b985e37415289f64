// Package render turns a peer's allocation into the configuration a client
// needs: a wg-quick style file and the same content as JSON. It holds no state
// and does no I/O beyond writing to the io.Writer it is given.
package render

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
)

// ClientConfig is everything a client needs to bring its tunnel up. The JSON
// form is the API's answer; WriteWGQuick renders the same fields for wg-quick.
type ClientConfig struct {
	Interface Interface `json:"interface"`
	Peer      Peer      `json:"peer"`
}

// Interface is the client's own side.
type Interface struct {
	// PrivateKey is only set when the gateway generated the key pair; in the
	// default mode the client keeps its private key and this stays empty.
	PrivateKey string         `json:"privateKey,omitempty"`
	PublicKey  string         `json:"publicKey"`
	Addresses  []netip.Prefix `json:"addresses"`
	DNS        []netip.Addr   `json:"dns,omitempty"`
}

// Peer is the gateway as seen by the client.
type Peer struct {
	PublicKey  string         `json:"publicKey"`
	Endpoint   string         `json:"endpoint"`
	AllowedIPs []netip.Prefix `json:"allowedIPs"`
	// PersistentKeepaliveSeconds keeps the NAT/firewall state on the path open
	// and lets the gateway see the peer as alive; 0 disables it.
	PersistentKeepaliveSeconds int `json:"persistentKeepaliveSeconds,omitempty"`
}

// Keepalive returns the keepalive interval as a duration.
func (p Peer) Keepalive() time.Duration {
	return time.Duration(p.PersistentKeepaliveSeconds) * time.Second
}

// WriteWGQuick writes c in wg-quick's format. Without a private key the line is
// written as a comment naming what belongs there, so the file is still the full
// picture and a node only has to fill in its own key.
func WriteWGQuick(w io.Writer, c ClientConfig) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "[Interface]")
	if c.Interface.PrivateKey != "" {
		fmt.Fprintf(bw, "PrivateKey = %s\n", c.Interface.PrivateKey)
	} else {
		fmt.Fprintf(bw, "# PrivateKey = <private key of %s, kept by the client>\n", c.Interface.PublicKey)
	}
	fmt.Fprintf(bw, "Address = %s\n", joinPrefixes(c.Interface.Addresses))
	if len(c.Interface.DNS) > 0 {
		dns := make([]string, len(c.Interface.DNS))
		for i, d := range c.Interface.DNS {
			dns[i] = d.String()
		}
		fmt.Fprintf(bw, "DNS = %s\n", strings.Join(dns, ", "))
	}
	fmt.Fprintln(bw)
	fmt.Fprintln(bw, "[Peer]")
	fmt.Fprintf(bw, "PublicKey = %s\n", c.Peer.PublicKey)
	fmt.Fprintf(bw, "Endpoint = %s\n", c.Peer.Endpoint)
	fmt.Fprintf(bw, "AllowedIPs = %s\n", joinPrefixes(c.Peer.AllowedIPs))
	if c.Peer.PersistentKeepaliveSeconds > 0 {
		fmt.Fprintf(bw, "PersistentKeepalive = %d\n", c.Peer.PersistentKeepaliveSeconds)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write wg-quick config: %w", err)
	}
	return nil
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
