package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"metro/control"
)

// Exit codes.
const (
	exitOK         = 0
	exitError      = 1
	exitUsage      = 2
	exitNotRunning = 3
)

// requestTimeout bounds one exchange with metrod.
const requestTimeout = 15 * time.Second

// command is one metroctl subcommand. To add one, write its run function and
// list it in commands.
type command struct {
	name     string
	synopsis string // arguments after the name, for the usage line
	summary  string
	run      func(a *app, cmd *command, args []string) int
}

// commands lists the subcommands in the order help shows them.
func commands() []*command {
	return []*command{
		{name: "status", synopsis: "[--json] [--socket PATH]", summary: "show metrod and the state of its peers", run: runStatus},
		{name: "test", synopsis: "[--tap] [--wait DURATION] [--config FILE] [--socket PATH]", summary: "check configuration, network, SAs (starting idle on-demand ones) and that traffic to every peer is encrypted", run: runTest},
		{name: "reload", synopsis: "[--socket PATH]", summary: "make metrod re-read its configuration and credentials", run: runReload},
		{name: "down", synopsis: "[--enable-clear-text] [--socket PATH]", summary: "stop metrod: SAs deleted, traffic blocked (or in clear with --enable-clear-text)", run: runDown},
		{name: "restart", synopsis: "", summary: "restart metrod through the service manager (systemd)", run: runRestart},
		{name: "version", synopsis: "[--socket PATH]", summary: "print the versions of metroctl and metrod", run: runVersion},
		{name: "help", synopsis: "[COMMAND]", summary: "show help for metroctl or a command", run: runHelp},
	}
}

func lookup(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

// app is the environment a command runs in.
type app struct {
	stdout, stderr io.Writer
	socket         string // from the global --socket flag
	colour         bool   // stdout is a terminal that wants colour
	now            func() time.Time
	loc            *time.Location // for printing times
}

// run is metroctl: it parses args (without the program name), runs the
// command and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	a := &app{
		stdout: stdout,
		stderr: stderr,
		colour: wantColour(stdout),
		now:    time.Now,
		loc:    time.Local,
	}
	return a.main(args)
}

func (a *app) main(args []string) int {
	fl := newFlagSet("metroctl")
	fl.StringVar(&a.socket, "socket", control.DefaultSocket, "`PATH` of the control socket")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.usage(a.stdout)
			return exitOK
		}
		return a.usageError(err.Error(), nil)
	}
	if a.socket == "" {
		return a.usageError("--socket: empty path", nil)
	}
	if fl.NArg() == 0 {
		return a.usageError("no command given", nil)
	}
	name := fl.Arg(0)
	cmd := lookup(name)
	if cmd == nil {
		return a.usageError(fmt.Sprintf("unknown command %q", name), nil)
	}
	return cmd.run(a, cmd, fl.Args()[1:])
}

func newFlagSet(name string) *flag.FlagSet {
	fl := flag.NewFlagSet(name, flag.ContinueOnError)
	fl.SetOutput(io.Discard) // errors and usage are printed by metroctl
	return fl
}

// parseFlags parses a command's flags. If it returns ok == false, the
// command must return code: help was shown or the flags were wrong.
func (a *app) parseFlags(cmd *command, fl *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.commandUsage(a.stdout, cmd, fl)
			return exitOK, false
		}
		return a.usageError(err.Error(), func(w io.Writer) { a.commandUsage(w, cmd, fl) }), false
	}
	return exitOK, true
}

// socketFlag adds the per-command --socket flag, defaulting to the global one.
func (a *app) socketFlag(fl *flag.FlagSet) *string {
	return fl.String("socket", a.socket, "`PATH` of the control socket")
}

// usageError reports a usage error with the usage text (usage, or the
// global one when nil) on stderr.
func (a *app) usageError(msg string, usage func(io.Writer)) int {
	fmt.Fprintf(a.stderr, "metroctl: %s\n\n", msg)
	if usage == nil {
		usage = a.usage
	}
	usage(a.stderr)
	return exitUsage
}

func (a *app) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: metroctl [--socket PATH] COMMAND [ARGS]\n\n")
	fmt.Fprintf(w, "metroctl controls metrod, the metro IKEv2/IPsec daemon.\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nGlobal flags:\n  --socket PATH  control socket (default %s)\n", control.DefaultSocket)
	fmt.Fprintf(w, "\nRun 'metroctl help COMMAND' for a command's flags.\n")
	fmt.Fprintf(w, "Exit status: 0 success, 1 error, 2 usage error, 3 metrod not running.\n")
}

func (a *app) commandUsage(w io.Writer, cmd *command, fl *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: metroctl %s %s\n\n%s.\n", cmd.name, cmd.synopsis, upperFirst(cmd.summary))
	if fl == nil {
		return
	}
	var b strings.Builder
	fl.VisitAll(func(f *flag.Flag) {
		arg, help := flag.UnquoteUsage(f)
		left := "--" + f.Name
		if arg != "" {
			left += " " + arg
		}
		fmt.Fprintf(&b, "  %-16s %s", left, help)
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(&b, " (default %s)", f.DefValue)
		}
		b.WriteString("\n")
	})
	if b.Len() > 0 {
		fmt.Fprintf(w, "\nFlags:\n%s", b.String())
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// dial connects to metrod. On failure it reports the error and returns the
// exit code to use.
func (a *app) dial(path string) (*control.Client, int) {
	c, err := control.Dial(path)
	switch {
	case err == nil:
		return c, exitOK
	case errors.Is(err, control.ErrNotRunning):
		fmt.Fprintf(a.stderr, "metrod is not running (no control socket at %s)\n", path)
		return nil, exitNotRunning
	case errors.Is(err, fs.ErrPermission):
		fmt.Fprintf(a.stderr, "metroctl: %v (metroctl usually needs root)\n", err)
		return nil, exitError
	default:
		fmt.Fprintf(a.stderr, "metroctl: %v\n", err)
		return nil, exitError
	}
}

// fail reports an error from metrod or the connection and returns exitError.
func (a *app) fail(err error) int {
	var re *control.RemoteError
	if errors.As(err, &re) {
		fmt.Fprintf(a.stderr, "metroctl: metrod: %s\n", re.Message)
	} else {
		fmt.Fprintf(a.stderr, "metroctl: %v\n", err)
	}
	return exitError
}

func requestContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), requestTimeout)
}

// wantColour reports whether w is a terminal that should get colour.
func wantColour(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(f)
}

func runHelp(a *app, cmd *command, args []string) int {
	fl := newFlagSet(cmd.name)
	if code, ok := a.parseFlags(cmd, fl, args); !ok {
		return code
	}
	args = fl.Args()
	switch len(args) {
	case 0:
		a.usage(a.stdout)
		return exitOK
	case 1:
		c := lookup(args[0])
		if c == nil {
			return a.usageError(fmt.Sprintf("unknown command %q", args[0]), nil)
		}
		// Let the command describe its own flags.
		return c.run(a, c, []string{"-h"})
	default:
		return a.usageError("help takes at most one command", func(w io.Writer) { a.commandUsage(w, cmd, fl) })
	}
}
