package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"metro/control"
	"metro/xfrm"
)

// metrod's control commands (daemon.CmdDown, daemon.CmdReload,
// daemon.ArgClearText; metroctl does not link the daemon).
const (
	cmdDown      = "down"
	cmdReload    = "reload"
	argClearText = "enable-clear-text"
)

// downWait bounds how long `metroctl down` waits for metrod to exit.
var downWait = 15 * time.Second

// systemdDir exists when systemd is the running service manager
// (sd_booted(3)).
var systemdDir = "/run/systemd/system"

// openKernel opens the kernel's IPsec tables, for `down
// --enable-clear-text` when metrod is not running.
var openKernel = func() (xfrm.Kernel, error) { return xfrm.NewNetlink(slog.New(slog.DiscardHandler)) }

// systemctl runs systemctl with the given arguments.
var systemctl = func(stdout, stderr io.Writer, args ...string) error {
	cmd := exec.Command("systemctl", args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd.Run()
}

// runDown implements `metroctl down`: metrod deletes its SAs and exits.
// Its policies stay (traffic with the peers is blocked, never in clear)
// unless --enable-clear-text, which removes them, by metrod or, when it is
// not running, by metroctl itself.
func runDown(a *app, cmd *command, args []string) int {
	fl := newFlagSet(cmd.name)
	clear := fl.Bool("enable-clear-text", false, "also remove metro's policies: traffic with the peers flows in clear while metrod is off (works when metrod is not running too)")
	socket := a.socketFlag(fl)
	if code, ok := a.parseFlags(cmd, fl, args); !ok {
		return code
	}
	if fl.NArg() > 0 {
		return a.usageError(fmt.Sprintf("down: unexpected argument %q", fl.Arg(0)),
			func(w io.Writer) { a.commandUsage(w, cmd, fl) })
	}

	c, err := control.Dial(*socket)
	if errors.Is(err, control.ErrNotRunning) {
		if !*clear {
			fmt.Fprintf(a.stdout, "metrod is not running; nothing to stop (metro's policies, if any, still block traffic with the peers: --enable-clear-text removes them)\n")
			return exitOK
		}
		return a.clearPolicies()
	}
	if err != nil {
		_, code := a.dial(*socket) // reports the error the usual way
		return code
	}
	ctx, cancel := requestContext()
	defer cancel()
	out, err := c.Command(ctx, cmdDown, map[string]string{argClearText: fmt.Sprint(*clear)})
	c.Close()
	var re *control.RemoteError
	if errors.As(err, &re) {
		return a.fail(err)
	}
	// Any other error: metrod may have closed the connection as it
	// stopped; whether it stops is what counts.
	if err == nil && out != "" {
		fmt.Fprintln(a.stdout, out)
	}
	deadline := time.Now().Add(downWait)
	for {
		c, err := control.Dial(*socket)
		if errors.Is(err, control.ErrNotRunning) {
			break
		}
		if err == nil {
			c.Close()
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(a.stderr, "metroctl: metrod did not exit within %v (its control socket %s still answers)\n", downWait, *socket)
			return exitError
		}
		time.Sleep(100 * time.Millisecond)
	}
	if *clear {
		fmt.Fprintln(a.stdout, "metrod stopped; metro's policies are removed: traffic with the peers flows in clear until metrod runs again")
	} else {
		fmt.Fprintln(a.stdout, "metrod stopped; traffic with the peers is blocked until metrod runs again")
	}
	return exitOK
}

// clearPolicies removes metro's policies (and only those) from the kernel
// when metrod is not running, and prints each one.
func (a *app) clearPolicies() int {
	k, err := openKernel()
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			fmt.Fprintf(a.stderr, "metroctl: %v (metroctl usually needs root)\n", err)
		} else {
			fmt.Fprintf(a.stderr, "metroctl: opening the kernel's IPsec tables: %v\n", err)
		}
		return exitError
	}
	defer k.Close()
	pols, err := k.Policies()
	if err != nil {
		fmt.Fprintf(a.stderr, "metroctl: listing metro's policies: %v\n", err)
		return exitError
	}
	code := exitOK
	removed := 0
	for _, p := range pols {
		if err := k.DeletePolicy(p); err != nil {
			fmt.Fprintf(a.stderr, "metroctl: removing policy %s: %v\n", p, err)
			code = exitError
			continue
		}
		fmt.Fprintf(a.stdout, "removed policy %s\n", p)
		removed++
	}
	switch {
	case removed == 0 && code == exitOK:
		fmt.Fprintln(a.stdout, "metrod is not running and metro has no policies in the kernel: nothing to remove")
	default:
		fmt.Fprintf(a.stdout, "metrod is not running; removed %d of metro's policies: traffic with the peers flows in clear until metrod runs again\n", removed)
	}
	return code
}

// runRestart implements `metroctl restart`: down, then start, which needs
// a service manager to start metrod again.
func runRestart(a *app, cmd *command, args []string) int {
	fl := newFlagSet(cmd.name)
	if code, ok := a.parseFlags(cmd, fl, args); !ok {
		return code
	}
	if fl.NArg() > 0 {
		return a.usageError(fmt.Sprintf("restart: unexpected argument %q", fl.Arg(0)),
			func(w io.Writer) { a.commandUsage(w, cmd, fl) })
	}
	if fi, err := os.Stat(systemdDir); err != nil || !fi.IsDir() {
		fmt.Fprintf(a.stderr, "metroctl: restart needs a service manager, and systemd is not running here (no %s).\n"+
			"Stop metrod with 'metroctl down', then start metrod again the way it was started.\n\n", systemdDir)
		a.commandUsage(a.stderr, cmd, fl)
		return exitError
	}
	if err := systemctl(a.stdout, a.stderr, "restart", "metrod"); err != nil {
		fmt.Fprintf(a.stderr, "metroctl: systemctl restart metrod: %v\n", err)
		return exitError
	}
	fmt.Fprintln(a.stdout, "metrod restarted (systemctl restart metrod)")
	return exitOK
}

// runReload implements `metroctl reload`: metrod re-reads its
// configuration and credentials. A configuration with errors is rejected
// as a whole (the running one stays) and the error is printed.
func runReload(a *app, cmd *command, args []string) int {
	fl := newFlagSet(cmd.name)
	socket := a.socketFlag(fl)
	if code, ok := a.parseFlags(cmd, fl, args); !ok {
		return code
	}
	if fl.NArg() > 0 {
		return a.usageError(fmt.Sprintf("reload: unexpected argument %q", fl.Arg(0)),
			func(w io.Writer) { a.commandUsage(w, cmd, fl) })
	}
	c, code := a.dial(*socket)
	if c == nil {
		return code
	}
	defer c.Close()
	ctx, cancel := requestContext()
	defer cancel()
	out, err := c.Command(ctx, cmdReload, nil)
	if err != nil {
		return a.fail(err)
	}
	fmt.Fprintln(a.stdout, out)
	return exitOK
}
