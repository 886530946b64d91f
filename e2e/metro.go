package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"metro/control"
)

// Metrod is a metrod process running on a host.
type Metrod struct {
	Host   *Host
	Proc   *Proc
	Socket string
	Config string
}

// WritePSK writes a .psk file listing addrs with key into the host's
// credentials directory (mode 0600) and returns the directory.
func (h *Host) WritePSK(t testing.TB, name, key string, addrs ...netip.Addr) string {
	t.Helper()
	dir := filepath.Join(h.Dir, "creds")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var line []string
	for _, a := range addrs {
		line = append(line, a.String())
	}
	body := "# written by the e2e test\n" + strings.Join(line, " ") + "\n" + key + "\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// WriteConfig writes a config.env with the given KEY=VALUE lines (the
// credentials directory defaults to the host's creds/) and returns its path.
func (h *Host) WriteConfig(t testing.TB, lines ...string) string {
	t.Helper()
	p := filepath.Join(h.Dir, "config.env")
	body := "METRO_CREDS_DIR=" + filepath.Join(h.Dir, "creds") + "\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// StartMetrod runs bin/metrod --debug on the host with its config.env
// (WriteConfig is called with no extra lines if there is none yet).
func (h *Host) StartMetrod(t testing.TB) *Metrod {
	t.Helper()
	return h.StartMetrodArgs(t)
}

// harnessEnv are the test bed's own METRO_* variables; metrod would warn
// about them as unknown, so its processes do not get them.
var harnessEnv = []string{"METRO_VM", "METRO_VM_RESULTS", "METRO_BIN", "METRO_ROOT"}

// Status asks metrod for its status through metroctl status --json.
func (m *Metrod) Status(t testing.TB) (*control.Status, error) {
	t.Helper()
	out, err := m.Host.TryRun(t, Binary(t, "metroctl"), "--socket", m.Socket, "status", "--json")
	if err != nil {
		return nil, fmt.Errorf("metroctl status: %v: %s", err, out)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("metroctl status --json: %v: %s", err, out)
	}
	return &st, nil
}

// WaitEstablished waits until metrod reports every one of the remote
// addresses established and returns the status.
func (m *Metrod) WaitEstablished(t testing.TB, timeout time.Duration, remotes ...netip.Addr) *control.Status {
	t.Helper()
	var st *control.Status
	var last string
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m.Proc.Exited() {
			t.Fatalf("metrod on %s exited:\n%s", m.Host.Name, lastLines(m.Proc.Log(), 40))
		}
		s, err := m.Status(t)
		if err == nil {
			st = s
			ok := 0
			for _, r := range remotes {
				for _, p := range s.Peers {
					if p.Remote == r.String() && p.State == control.StateEstablished && len(p.Children) > 0 {
						ok++
					}
				}
			}
			if ok == len(remotes) {
				return s
			}
			last = fmt.Sprintf("%+v", s.Peers)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("metrod on %s: peers %v not established within %v; last status: %s\nlog:\n%s",
		m.Host.Name, remotes, timeout, last, lastLines(m.Proc.Log(), 60))
	return st
}
