// Package command gives every k8s1m binary the same operator surface: a cobra
// root command with --version, --log-format and --log-level, environment-variable
// fallbacks for flags, and a context that is cancelled on SIGINT or SIGTERM so
// each Run can shut down gracefully.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/k8s1m/k8s1m/cli/logging"
	"github.com/k8s1m/k8s1m/cli/version"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envAnnotation is the pflag annotation key that names a flag's env fallback.
const envAnnotation = "k8s1m_env"

// Root wraps a cobra root command with the shared flags.
type Root struct {
	Cmd *cobra.Command
	log logging.Config
	out io.Writer
}

// NewRoot returns a root command named use. Its RunE and subcommands are the
// caller's; Logger returns the logger built from the shared flags once parsing is
// done (call it from RunE).
func NewRoot(use, short string) *Root {
	r := &Root{out: os.Stderr}
	cmd := &cobra.Command{
		Use:           use,
		Short:         short,
		Version:       version.Get().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetVersionTemplate("{{.Version}}\n")
	pf := cmd.PersistentFlags()
	pf.StringVar(&r.log.Format, "log-format", logging.FormatJSON, `log output format: "json" or "console"`)
	pf.StringVar(&r.log.Level, "log-level", "info", "minimum log level: trace, debug, info, warn, error")
	BindEnv(pf, "log-format", "K8S1M_LOG_FORMAT")
	BindEnv(pf, "log-level", "K8S1M_LOG_LEVEL")
	cmd.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.InheritedFlags()} {
			if err := ApplyEnv(fs); err != nil {
				return err
			}
		}
		return nil
	}
	r.Cmd = cmd
	return r
}

// Logger builds the logger selected by --log-format and --log-level.
func (r *Root) Logger() (zerolog.Logger, error) {
	return logging.New(r.log, r.out)
}

// BindEnv makes env the fallback of flag name: when the flag is not given on the
// command line and env is set, the flag takes env's value. The env name is added to
// the flag's help text so --help documents it.
func BindEnv(fs *pflag.FlagSet, name, env string) {
	f := fs.Lookup(name)
	if f == nil {
		panic(fmt.Sprintf("command.BindEnv: no flag %q", name)) // programming error, caught by tests
	}
	_ = fs.SetAnnotation(name, envAnnotation, []string{env})
	f.Usage = fmt.Sprintf("%s (env %s)", f.Usage, env)
}

// ApplyEnv sets every flag in fs that was not given on the command line from its
// bound environment variable, if set.
func ApplyEnv(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		envs := f.Annotations[envAnnotation]
		if f.Changed || len(envs) == 0 {
			return
		}
		v, ok := os.LookupEnv(envs[0])
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("env %s for --%s: %w", envs[0], f.Name, err))
		}
	})
	return errors.Join(errs...)
}

// Execute runs the command with a context cancelled by SIGINT/SIGTERM and exits
// the process with status 1 on error (2 for usage errors cobra reports). A second
// signal kills the process at once, as operators expect.
func Execute(cmd *cobra.Command) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // restore default handling: the next signal terminates
	}()
	err := cmd.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: error: %v\n", cmd.Name(), err)
		os.Exit(1)
	}
}
