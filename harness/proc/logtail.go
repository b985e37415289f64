package proc

import (
	"bytes"
	"io"
	"os"
)

// tailBytes bounds how much of a log LogTail reads: enough for the last lines of
// a start-up failure without reading a multi-gigabyte log of a long run.
const tailBytes = 64 << 10

// LogTail returns the last n lines of the file at path ("" if it cannot be read).
func LogTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(fi.Size()-tailBytes, 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return ""
	}
	buf = bytes.TrimRight(buf, "\n")
	lines := bytes.Split(buf, []byte("\n"))
	if off > 0 && len(lines) > 1 {
		lines = lines[1:] // the first line was cut by the offset
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
