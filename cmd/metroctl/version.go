package main

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"metro/control"
)

// version is set at link time: -ldflags "-X main.version=1.2.3". When empty,
// the module version or VCS revision recorded by the Go toolchain is used.
var version string

// buildVersion returns metroctl's version.
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		rev += "-dirty"
	}
	return "devel-" + rev
}

// runVersion implements `metroctl version`: metroctl's version, and
// metrod's when it is running.
func runVersion(a *app, cmd *command, args []string) int {
	fl := newFlagSet(cmd.name)
	socket := a.socketFlag(fl)
	if code, ok := a.parseFlags(cmd, fl, args); !ok {
		return code
	}
	if fl.NArg() > 0 {
		return a.usageError(fmt.Sprintf("version: unexpected argument %q", fl.Arg(0)),
			func(w io.Writer) { a.commandUsage(w, cmd, fl) })
	}
	fmt.Fprintf(a.stdout, "metroctl %s\n", buildVersion())

	c, err := control.Dial(*socket)
	if errors.Is(err, control.ErrNotRunning) {
		fmt.Fprintf(a.stdout, "metrod   not running\n")
		return exitOK
	}
	if err != nil {
		return a.fail(err)
	}
	defer c.Close()
	ctx, cancel := requestContext()
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return a.fail(err)
	}
	v := st.Version
	if v == "" {
		v = "unknown"
	}
	fmt.Fprintf(a.stdout, "metrod   %s (pid %d)\n", v, st.PID)
	return exitOK
}
