//go:build !linux

package wal

import "os"

func wrapSync(f *os.File) walFile { return f }
