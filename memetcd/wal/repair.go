package wal

import (
	"fmt"
	"os"
)

// truncateSegment cuts a segment back to off (the start of its first bad or
// unwanted record) and makes the new length durable, so a second crash cannot
// resurrect the bytes.
func truncateSegment(path string, off int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("repair %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("repair %s: truncate to %d: %w", path, off, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("repair %s: fsync: %w", path, err)
	}
	return nil
}

// removeSegments deletes whole segments (those after a truncation point, or
// covered by a snapshot).
func removeSegments(segs []*segment) error {
	for _, s := range segs {
		if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove segment: %w", err)
		}
	}
	return nil
}
