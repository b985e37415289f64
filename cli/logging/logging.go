// Package logging builds the one zerolog logger a k8s1m binary passes down.
// JSON is the default (what log pipelines ingest); console is for people.
package logging

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// Formats accepted by New.
const (
	FormatJSON    = "json"
	FormatConsole = "console"
)

// Config selects the output format and the minimum level.
type Config struct {
	Format string // "json" or "console"
	Level  string // zerolog level name: trace, debug, info, warn, error
}

// New returns a logger writing to w. It fails on an unknown format or level rather
// than guessing, so a typo in a flag is seen at start-up.
func New(cfg Config, w io.Writer) (zerolog.Logger, error) {
	if w == nil {
		w = os.Stderr
	}
	level := zerolog.InfoLevel
	if cfg.Level != "" {
		l, err := zerolog.ParseLevel(cfg.Level)
		if err != nil {
			return zerolog.Nop(), fmt.Errorf("log level %q: %w", cfg.Level, err)
		}
		level = l
	}
	switch cfg.Format {
	case "", FormatJSON:
	case FormatConsole:
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339Nano}
	default:
		return zerolog.Nop(), fmt.Errorf("log format %q: want %q or %q", cfg.Format, FormatJSON, FormatConsole)
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}
