package wal

import (
	"os"
	"syscall"
)

// dataSyncFile syncs with fdatasync, as etcd's WAL does on Linux: for an
// append-only file it persists the data and the new size but skips the
// timestamp updates a full fsync also writes.
type dataSyncFile struct{ *os.File }

func (f dataSyncFile) Sync() error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

func wrapSync(f *os.File) walFile { return dataSyncFile{f} }
