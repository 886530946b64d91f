package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Host is a simulated machine: a network namespace with one veth link,
// eth0, to its peer.
type Host struct {
	Name   string     // network namespace name
	V4, V6 netip.Addr // addresses on eth0 (/24 and /64)
	Dir    string     // per-host scratch directory (tmpfs: fine for sockets)

	out string // artifacts directory for this host's logs
}

// Link is the interface name of every host's veth end.
const Link = "eth0"

// DefaultTimeout bounds Host.Run commands.
const DefaultTimeout = 60 * time.Second

var hostSeq atomic.Uint32

// NewPair creates two hosts joined by a veth pair: a has 10.0.0.1/24 and
// fd00::1/64, b has 10.0.0.2/24 and fd00::2/64 (no duplicate address
// detection, so IPv6 is usable at once). Both are removed at cleanup.
func NewPair(t testing.TB) (a, b *Host) {
	t.Helper()
	RequireVM(t)
	n := hostSeq.Add(1)
	out := OutDir(t)
	a = &Host{
		Name: fmt.Sprintf("mt%d-a%d", os.Getpid(), n),
		V4:   netip.MustParseAddr("10.0.0.1"),
		V6:   netip.MustParseAddr("fd00::1"),
		Dir:  t.TempDir(),
		out:  out,
	}
	b = &Host{
		Name: fmt.Sprintf("mt%d-b%d", os.Getpid(), n),
		V4:   netip.MustParseAddr("10.0.0.2"),
		V6:   netip.MustParseAddr("fd00::2"),
		Dir:  t.TempDir(),
		out:  out,
	}
	for _, h := range []*Host{a, b} {
		mustIP(t, "netns", "add", h.Name)
		t.Cleanup(func() {
			if out, err := ip("netns", "del", h.Name); err != nil {
				t.Errorf("e2e: removing netns %s: %v\n%s", h.Name, err, out)
			}
		})
	}
	mustIP(t, "link", "add", Link, "netns", a.Name, "type", "veth", "peer", "name", Link, "netns", b.Name)
	for _, h := range []*Host{a, b} {
		h.Run(t, "ip", "link", "set", "lo", "up")
		h.Run(t, "ip", "addr", "add", h.V4.String()+"/24", "dev", Link)
		h.Run(t, "ip", "addr", "add", h.V6.String()+"/64", "dev", Link, "nodad")
		h.Run(t, "ip", "link", "set", Link, "up")
	}
	for _, h := range []*Host{a, b} {
		h.waitCarrier(t)
	}
	return a, b
}

func (h *Host) waitCarrier(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := h.TryRun(t, "cat", "/sys/class/net/"+Link+"/operstate")
		if err == nil && strings.TrimSpace(out) == "up" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("e2e: %s: %s not up: %q %v", h.Name, Link, out, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ip(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	return string(out), err
}

func mustIP(t testing.TB, args ...string) {
	t.Helper()
	if out, err := ip(args...); err != nil {
		t.Fatalf("e2e: ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Command returns an unstarted command that runs name in the host's namespace.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Name, name}, args...)...)
	cmd.Dir = h.Dir
	return cmd
}

// TryRun runs a command in the host's namespace and returns its combined
// output; a non-zero exit is returned as an error.
func (h *Host) TryRun(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	out, err := h.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %s %s: %w", h.Name, name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// Run runs a command in the host's namespace, failing the test when it
// fails, and returns its combined output.
func (h *Host) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := h.TryRun(t, name, args...)
	if err != nil {
		t.Fatalf("e2e: %v\n%s", err, out)
	}
	return out
}

// Proc is a background process started by Host.Start.
type Proc struct {
	Cmd     *exec.Cmd
	LogPath string // stdout and stderr

	done    chan struct{}
	waitErr error
}

var procSeq atomic.Uint32

// Start runs a command in the background in the host's namespace. Its output
// goes to a log file in the test's artifacts directory. It is stopped at
// cleanup, and its log tail is printed when the test failed.
func (h *Host) Start(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	logPath := filepath.Join(h.out, fmt.Sprintf("%s-%s-%d.log", h.Name, procName(name, args), procSeq.Add(1)))
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	cmd := h.Command(context.Background(), name, args...)
	cmd.Stdout = f
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("e2e: %s: starting %s: %v", h.Name, name, err)
	}
	p := &Proc{Cmd: cmd, LogPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("e2e: log of %s %s (%s), last lines:\n%s", h.Name, name, logPath, lastLines(p.Log(), 40))
		}
	})
	return p
}

// procName names a process's log after the program it runs: for "env
// VAR=x prog ...", prog, not env.
func procName(name string, args []string) string {
	if filepath.Base(name) == "env" {
		for _, a := range args {
			if !strings.Contains(a, "=") && !strings.HasPrefix(a, "-") {
				return filepath.Base(a)
			}
		}
	}
	return filepath.Base(name)
}

// Stop sends SIGTERM, then SIGKILL after 5 s, and waits for the process.
// It returns the process's exit error; a process killed by Stop is not an error.
func (p *Proc) Stop() error {
	select {
	case <-p.done:
		return p.waitErr
	default:
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.Cmd.Process.Kill()
		<-p.done
	}
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) && !ee.Exited() {
		return nil // killed by our signal
	}
	return p.waitErr
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to end, at most timeout.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(timeout):
		return fmt.Errorf("e2e: %s still running after %v", p.Cmd.Path, timeout)
	}
}

// Log returns the process's output so far.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}
