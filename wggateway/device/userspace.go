package device

import (
	"errors"
	"fmt"
	"net"

	"github.com/rs/zerolog"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/ipc"
	"golang.zx2c4.com/wireguard/tun"
)

// userspaceDevice is golang.zx2c4.com/wireguard running in this process. It
// serves the same UAPI socket (/var/run/wireguard/<name>.sock) wireguard-go
// does, which is how wgctrl finds and configures it.
type userspaceDevice struct {
	dev    *device.Device
	uapi   net.Listener
	served chan struct{} // closed when the UAPI accept loop ends
}

func startUserspace(name string, mtu int, log zerolog.Logger) (*userspaceDevice, error) {
	tdev, err := tun.CreateTUN(name, mtu)
	if err != nil {
		return nil, fmt.Errorf("create tun %s: %w", name, err)
	}
	logger := &device.Logger{
		Verbosef: func(format string, args ...any) { log.Debug().Msgf(format, args...) },
		Errorf:   func(format string, args ...any) { log.Warn().Msgf(format, args...) },
	}
	dev := device.NewDevice(tdev, conn.NewDefaultBind(), logger)
	f, err := ipc.UAPIOpen(name)
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("open uapi socket for %s: %w", name, err)
	}
	l, err := ipc.UAPIListen(name, f)
	if err != nil {
		f.Close()
		dev.Close()
		return nil, fmt.Errorf("listen on uapi socket for %s: %w", name, err)
	}
	u := &userspaceDevice{dev: dev, uapi: l, served: make(chan struct{})}
	go func() {
		defer close(u.served)
		for {
			c, err := l.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					log.Debug().Err(err).Msg("uapi listener stopped")
				}
				return
			}
			go dev.IpcHandle(c)
		}
	}()
	if err := dev.Up(); err != nil {
		u.close()
		return nil, fmt.Errorf("bring userspace device %s up: %w", name, err)
	}
	return u, nil
}

// close stops the UAPI listener (removing the socket file) and the device
// (removing the TUN interface).
func (u *userspaceDevice) close() {
	u.uapi.Close()
	<-u.served
	u.dev.Close()
}
