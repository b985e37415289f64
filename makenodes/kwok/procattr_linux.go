package kwok

import "syscall"

// sysProcAttr kills a controller if the process that started it dies, so a
// crashed test or tool never leaves controllers heartbeating behind it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
