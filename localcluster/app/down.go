package app

import (
	"fmt"
	"io"

	"github.com/k8s1m/k8s1m/localcluster/runstate"
	"github.com/rs/zerolog"
)

// Down stops the cluster recorded in runsDir (left by `up`, or still starting
// in another terminal) by PID, and keeps its run directory.
func Down(log zerolog.Logger, runsDir string, out io.Writer) error {
	rs, err := runstate.New(runsDir)
	if err != nil {
		return err
	}
	st, err := rs.Down(stopGrace)
	if st == nil && err == nil {
		fmt.Fprintln(out, "no local cluster is running")
		return nil
	}
	if err != nil {
		return fmt.Errorf("down: %w", err)
	}
	for _, p := range st.Processes {
		log.Info().Str("process", p.Name).Int("pid", p.PID).Msg("stopped")
	}
	fmt.Fprintf(out, "stopped; run directory kept: %s\n", st.RunDir)
	return nil
}
