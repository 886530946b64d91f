package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freeUDPPort returns a UDP port free on 127.0.0.1 right now.
func freeUDPPort(t *testing.T) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
}

// TestExitLinesInOrder: metrod's buffered log lines reach stderr before
// what it prints itself on the way out (here the --memprofile error of
// a clean stop), not after.
func TestExitLinesInOrder(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "creds")
	if err := os.Mkdir(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "metrod.sock")
	args := []string{"--config", filepath.Join(dir, "none.env"), "--creds-dir", creds,
		"--kernel", "memory", "--socket", sock,
		"--ike-port", freeUDPPort(t), "--natt-port", freeUDPPort(t),
		"--memprofile", filepath.Join(dir, "absent", "mem.prof")}
	// An explicit --config must exist.
	if err := os.WriteFile(args[1], nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(args, &stderr) }()
	// The control socket exists once metrod runs (SIGTERM is caught by then).
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("metrod exited with %d before running: %s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if i > 250 {
			t.Fatal("metrod did not start within 5 s")
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var code int
	select {
	case code = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("metrod did not stop on SIGTERM")
	}
	out := stderr.String()
	stop, prof := strings.Index(out, `msg="stopping`), strings.Index(out, "metrod: --memprofile")
	if code != 0 || stop < 0 || prof < 0 {
		t.Fatalf("exit code %d, stderr:\n%s", code, out)
	}
	if prof < stop {
		t.Fatalf("metrod's last words came before its buffered log lines:\n%s", out)
	}
}
