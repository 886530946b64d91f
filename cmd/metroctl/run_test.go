package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"metro/control"
	"metro/ike"
)

type fakeDaemon struct{ st *control.Status }

func (d *fakeDaemon) Status(context.Context) (*control.Status, error) {
	if d.st == nil {
		return nil, errors.New("status unavailable: kernel backend down")
	}
	return d.st, nil
}

func (d *fakeDaemon) Command(context.Context, string, map[string]string) (string, error) {
	return "", errors.New("no commands")
}

var t0 = time.Date(2025, 12, 3, 10, 0, 0, 0, time.UTC)

func sampleStatus() *control.Status {
	return &control.Status{
		Version: "0.1.0",
		PID:     4242,
		Since:   t0,
		Local:   []string{"192.0.2.1", "2001:db8::1"},
		Backend: control.BackendNetlink,
		Peers: []control.PeerStatus{
			{
				Remote: "192.0.2.7", Local: "192.0.2.1", Auth: control.AuthPSK,
				State: control.StateEstablished, Since: t0.Add(time.Minute), Initiator: true,
				IKE: &control.IKESAStatus{
					SPIi: "0123456789abcdef", SPIr: "fedcba9876543210",
					Encr: "AES_GCM_16_256", PRF: "PRF_HMAC_SHA2_256", KE: "CURVE25519",
					Established: t0.Add(time.Minute), RekeyAt: t0.Add(5 * time.Hour),
				},
				Children: []control.ChildStatus{{
					SPIIn: "c1c2c3c4", SPIOut: "d1d2d3d4", Encr: "AES_GCM_16_256", Mode: "transport",
					Reqid: 0x4d450001, BytesIn: 1 << 20, BytesOut: 12345, PacketsIn: 900, PacketsOut: 77,
					Established: t0.Add(time.Minute), RekeyAt: t0.Add(3 * time.Hour),
				}},
			},
			{
				Remote: "2001:db8::7", Local: "2001:db8::1", Auth: control.AuthCert,
				State: control.StateFailed, LastError: "AUTHENTICATION_FAILED from peer",
				Since:  t0.Add(90 * time.Minute),
				PeerID: "b.example.net", CertSubject: "CN=b.example.net", CertExpiry: t0.AddDate(0, 0, 30),
			},
		},
	}
}

// serve runs a control server answering with st and returns its socket.
func serve(t *testing.T, st *control.Status) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "metrod.sock")
	srv, err := control.Listen(path, &fakeDaemon{st: st}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestStatusText(t *testing.T) {
	path := serve(t, sampleStatus())
	for _, args := range [][]string{
		{"status", "--socket", path},
		{"--socket", path, "status"},
		{"--socket=/nonexistent", "status", "--socket=" + path}, // the command's flag wins
	} {
		code, out, errOut := runCmd(args...)
		if code != exitOK || errOut != "" {
			t.Fatalf("%q: exit %d, stderr %q", args, code, errOut)
		}
		for _, want := range []string{
			"metrod 0.1.0", "pid 4242", "backend netlink", "192.0.2.1, 2001:db8::1",
			"peer 192.0.2.7", "established for ", "initiator",
			"0123456789abcdef", "fedcba9876543210", "AES_GCM_16_256", "CURVE25519",
			"c1c2c3c4", "d1d2d3d4", "transport", "1048576 bytes (1.0 MiB)", "900 packets", "77 packets",
			"peer 2001:db8::7", "failed for ", "AUTHENTICATION_FAILED from peer", "CN=b.example.net",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%q: output lacks %q:\n%s", args, want, out)
			}
		}
		if strings.Contains(out, "\x1b[") {
			t.Errorf("colour escape in output to a non-terminal:\n%q", out)
		}
	}
}

func TestStatusJSON(t *testing.T) {
	want := sampleStatus()
	path := serve(t, want)
	code, out, errOut := runCmd("status", "--json", "--socket", path)
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var got control.Status
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not a Status: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("JSON round trip:\n got %+v\nwant %+v", got, *want)
	}
	if !strings.Contains(out, "\n  \"pid\": 4242") {
		t.Errorf("JSON is not indented:\n%s", out)
	}
}

func TestNotRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "metrod.sock")
	for _, args := range [][]string{{"status", "--socket", path}, {"--socket", path, "status", "--json"}} {
		code, out, errOut := runCmd(args...)
		if code != exitNotRunning {
			t.Errorf("%q: exit %d, want %d", args, code, exitNotRunning)
		}
		if want := "metrod is not running (no control socket at " + path + ")\n"; errOut != want {
			t.Errorf("%q: stderr %q, want %q", args, errOut, want)
		}
		if out != "" {
			t.Errorf("%q: stdout %q, want nothing", args, out)
		}
	}
}

func TestRemoteError(t *testing.T) {
	path := serve(t, nil)
	code, out, errOut := runCmd("status", "--socket", path)
	if code != exitError || out != "" || !strings.Contains(errOut, "kernel backend down") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 with the daemon's error", code, out, errOut)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{nil, exitUsage, "", "no command given"},
		{[]string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{[]string{"shutdown"}, exitUsage, "", `unknown command "shutdown"`},
		{[]string{"--bogus", "status"}, exitUsage, "", "flag provided but not defined"},
		{[]string{"status", "--bogus"}, exitUsage, "", "Usage: metroctl status"},
		{[]string{"status", "extra"}, exitUsage, "", `unexpected argument "extra"`},
		{[]string{"--socket", "", "status"}, exitUsage, "", "empty path"},
		{[]string{"help", "a", "b"}, exitUsage, "", "at most one"},
		{[]string{"help", "nope"}, exitUsage, "", `unknown command "nope"`},
		{[]string{"help"}, exitOK, "Commands:", ""},
		{[]string{"-h"}, exitOK, "Usage: metroctl [--socket PATH] COMMAND", ""},
		{[]string{"help", "status"}, exitOK, "--json", ""},
		{[]string{"status", "--help"}, exitOK, "Usage: metroctl status", ""},
		{[]string{"help", "help"}, exitOK, "Usage: metroctl help", ""},
	} {
		code, out, errOut := runCmd(tc.args...)
		if code != tc.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errOut)
		}
		if tc.inStdout != "" && !strings.Contains(out, tc.inStdout) {
			t.Errorf("%q: stdout lacks %q:\n%s", tc.args, tc.inStdout, out)
		}
		if tc.inStderr != "" && !strings.Contains(errOut, tc.inStderr) {
			t.Errorf("%q: stderr lacks %q:\n%s", tc.args, tc.inStderr, errOut)
		}
		if tc.code == exitUsage && !strings.Contains(errOut, "Usage: metroctl") {
			t.Errorf("%q: usage error without usage text:\n%s", tc.args, errOut)
		}
	}
}

func TestVersion(t *testing.T) {
	path := serve(t, sampleStatus())
	code, out, _ := runCmd("version", "--socket", path)
	if code != exitOK || !regexp.MustCompile(`(?m)^metroctl \S+\nmetrod +0\.1\.0 \(pid 4242\)$`).MatchString(out) {
		t.Errorf("version with metrod running: exit %d, output %q", code, out)
	}
	code, out, _ = runCmd("--socket", filepath.Join(t.TempDir(), "x.sock"), "version")
	if code != exitOK || !strings.Contains(out, "metrod   not running") {
		t.Errorf("version without metrod: exit %d, output %q", code, out)
	}
}

func TestPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores socket permissions")
	}
	path := serve(t, sampleStatus())
	os.Chmod(path, 0)
	code, _, errOut := runCmd("status", "--socket", path)
	if code != exitError || !strings.Contains(errOut, "permission denied") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestStatusJSONIdle(t *testing.T) {
	path := serve(t, idleStatus())
	code, out, errOut := runCmd("status", "--json", "--socket", path)
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if n := strings.Count(out, `"state": "idle"`); n != 2 || strings.Contains(out, `"ike"`) {
		t.Errorf("want two idle peers without IKE SA in the JSON:\n%s", out)
	}
	if !strings.Contains(out, `"last_error": "peer not responding to liveness checks"`) {
		t.Errorf("JSON lacks the idle peer's last error:\n%s", out)
	}
}

// TestStatesMatchIKE: metrod copies the ike package's state names into
// the status; metroctl knows them by control's names.
func TestStatesMatchIKE(t *testing.T) {
	for c, i := range map[string]string{
		control.StateConnecting:  ike.StateConnecting,
		control.StateEstablished: ike.StateEstablished,
		control.StateFailed:      ike.StateFailed,
		control.StateIdle:        ike.StateIdle,
	} {
		if c != i {
			t.Errorf("control state %q != ike state %q", c, i)
		}
	}
}
