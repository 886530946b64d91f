package main

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"metro/control"
	"metro/daemon"
	"metro/xfrm"
)

// lifecycleDaemon answers down and reload like metrod: down stops the
// server shortly after answering (unless stuck).
type lifecycleDaemon struct {
	mu        sync.Mutex
	calls     []string
	args      []map[string]string
	reloadErr error
	stuck     bool
	stop      func()
}

func (d *lifecycleDaemon) Status(context.Context) (*control.Status, error) {
	return &control.Status{Version: "test"}, nil
}

func (d *lifecycleDaemon) Command(_ context.Context, name string, args map[string]string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, name)
	d.args = append(d.args, args)
	switch name {
	case cmdDown:
		if !d.stuck {
			time.AfterFunc(200*time.Millisecond, d.stop)
		}
		return "metrod is stopping", nil
	case cmdReload:
		if d.reloadErr != nil {
			return "", d.reloadErr
		}
		return "reloaded: 1 peer added (10.0.0.3), 0 removed, 0 re-keyed, 1 unchanged", nil
	}
	return "", errors.New("unknown command")
}

func serveLifecycle(t *testing.T, d *lifecycleDaemon) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "metrod.sock")
	srv, err := control.Listen(path, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.stop = cancel
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return path
}

func TestCommandNamesMatchDaemon(t *testing.T) {
	if cmdDown != daemon.CmdDown || cmdReload != daemon.CmdReload || argClearText != daemon.ArgClearText {
		t.Fatal("metroctl's command names differ from metrod's")
	}
}

func TestDownRunning(t *testing.T) {
	for _, clear := range []bool{false, true} {
		d := &lifecycleDaemon{}
		path := serveLifecycle(t, d)
		args := []string{"down", "--socket", path}
		want := "traffic with the peers is blocked"
		if clear {
			args = append(args, "--enable-clear-text")
			want = "flows in clear"
		}
		start := time.Now()
		code, out, errOut := runCmd(args...)
		if code != exitOK || !strings.Contains(out, "metrod is stopping") || !strings.Contains(out, want) {
			t.Fatalf("%v: exit %d\nstdout %q\nstderr %q", args, code, out, errOut)
		}
		if time.Since(start) < 150*time.Millisecond {
			t.Errorf("down returned before metrod exited")
		}
		if len(d.calls) != 1 || d.args[0][argClearText] != map[bool]string{false: "false", true: "true"}[clear] {
			t.Errorf("metrod got %v %v", d.calls, d.args)
		}
	}
}

func TestDownStuck(t *testing.T) {
	old := downWait
	downWait = 300 * time.Millisecond
	defer func() { downWait = old }()
	path := serveLifecycle(t, &lifecycleDaemon{stuck: true})
	code, _, errOut := runCmd("down", "--socket", path)
	if code != exitError || !strings.Contains(errOut, "did not exit within") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestDownNotRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.sock")
	code, out, _ := runCmd("down", "--socket", path)
	if code != exitOK || !strings.Contains(out, "not running; nothing to stop") {
		t.Fatalf("exit %d, stdout %q", code, out)
	}

	k := xfrm.NewMemory(nil)
	a, b := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	pols := append(xfrm.ProtectPolicies(a, b, xfrm.ReqidBase+7), xfrm.NDBypassPolicies(a, b)...)
	for _, p := range pols {
		if err := k.SetPolicy(p); err != nil {
			t.Fatal(err)
		}
	}
	old := openKernel
	openKernel = func() (xfrm.Kernel, error) { return k, nil }
	defer func() { openKernel = old }()
	code, out, errOut := runCmd("down", "--enable-clear-text", "--socket", path)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if got := strings.Count(out, "removed policy "); got != len(pols) {
		t.Errorf("%d policies printed, want %d:\n%s", got, len(pols), out)
	}
	if !strings.Contains(out, "fd00::1/128->fd00::2/128") || !strings.Contains(out, "flows in clear") {
		t.Errorf("output:\n%s", out)
	}
	if left, _ := k.Policies(); len(left) != 0 {
		t.Errorf("%d policies left", len(left))
	}

	// Again: nothing left to remove.
	k2 := xfrm.NewMemory(nil)
	openKernel = func() (xfrm.Kernel, error) { return k2, nil }
	code, out, _ = runCmd("down", "--enable-clear-text", "--socket", path)
	if code != exitOK || !strings.Contains(out, "nothing to remove") {
		t.Errorf("exit %d, stdout %q", code, out)
	}

	openKernel = func() (xfrm.Kernel, error) { return nil, errors.New("netlink: operation not permitted") }
	code, _, errOut = runCmd("down", "--enable-clear-text", "--socket", path)
	if code != exitError || !strings.Contains(errOut, "operation not permitted") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestRestart(t *testing.T) {
	oldDir, oldCtl := systemdDir, systemctl
	defer func() { systemdDir, systemctl = oldDir, oldCtl }()
	var got []string
	systemctl = func(_, _ io.Writer, args ...string) error {
		got = append(got, strings.Join(args, " "))
		return nil
	}

	systemdDir = filepath.Join(t.TempDir(), "no-systemd")
	code, _, errOut := runCmd("restart")
	if code != exitError || !strings.Contains(errOut, "restart needs a service manager") ||
		!strings.Contains(errOut, "Usage: metroctl restart") || len(got) != 0 {
		t.Fatalf("without systemd: exit %d, stderr %q, systemctl %v", code, errOut, got)
	}

	systemdDir = t.TempDir()
	code, out, errOut := runCmd("restart")
	if code != exitOK || len(got) != 1 || got[0] != "restart metrod" || !strings.Contains(out, "restarted") {
		t.Fatalf("with systemd: exit %d, stdout %q, stderr %q, systemctl %v", code, out, errOut, got)
	}

	systemctl = func(_, _ io.Writer, args ...string) error { return errors.New("exit status 1") }
	if code, _, errOut := runCmd("restart"); code != exitError || !strings.Contains(errOut, "systemctl restart metrod") {
		t.Errorf("failing systemctl: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ := runCmd("restart", "now"); code != exitUsage {
		t.Errorf("restart with an argument: exit %d", code)
	}
}

func TestReload(t *testing.T) {
	d := &lifecycleDaemon{}
	path := serveLifecycle(t, d)
	code, out, errOut := runCmd("reload", "--socket", path)
	if code != exitOK || !strings.Contains(out, "1 peer added (10.0.0.3)") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	d.reloadErr = errors.New("new configuration rejected, the running one stays: creds/mesh.psk:2: key is empty")
	code, _, errOut = runCmd("reload", "--socket", path)
	if code != exitError || !strings.Contains(errOut, "mesh.psk:2") || !strings.Contains(errOut, "running one stays") {
		t.Fatalf("rejected: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ := runCmd("reload", "--socket", filepath.Join(t.TempDir(), "none.sock")); code != exitNotRunning {
		t.Errorf("not running: exit %d", code)
	}
}
