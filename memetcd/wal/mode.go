package wal

import "fmt"

// Mode is how durable the writes of one prefix are.
type Mode uint8

const (
	// ModeNone keeps the writes in memory only.
	ModeNone Mode = iota
	// ModeBuffered acknowledges before the disk write; the flusher writes and
	// fsyncs in the background, at most one flush interval behind.
	ModeBuffered
	// ModeFsync acknowledges only after the record is on disk (group commit).
	ModeFsync
)

// ParseMode reads "none", "buffered" or "fsync".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "none":
		return ModeNone, nil
	case "buffered":
		return ModeBuffered, nil
	case "fsync":
		return ModeFsync, nil
	}
	return ModeNone, fmt.Errorf("wal mode %q: want none, buffered or fsync", s)
}

func (m Mode) String() string {
	switch m {
	case ModeNone:
		return "none"
	case ModeBuffered:
		return "buffered"
	case ModeFsync:
		return "fsync"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}
