//go:build !linux

package kwok

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
