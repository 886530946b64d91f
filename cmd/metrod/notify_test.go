package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestHUPNotifiesReloadingThenReady(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Setenv("NOTIFY_SOCKET", sock)

	var logBuf bytes.Buffer
	n := newNotifier(slog.New(slog.NewTextHandler(&logBuf, nil)))
	read := func() string {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 256)
		k, err := c.Read(b)
		if err != nil {
			t.Fatalf("reading the notify socket: %v", err)
		}
		return string(b[:k])
	}
	n.ready()
	if got := read(); got != "READY=1" {
		t.Fatalf("got %q, want READY=1", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan os.Signal, 1)
	results := make(chan error, 2)
	results <- nil
	results <- errors.New("creds/mesh.psk:2: key is empty")
	go n.handleHUP(ctx, hup, func(context.Context) (string, error) {
		if err := <-results; err != nil {
			return "", err
		}
		return "reloaded: 1 peer added", nil
	})
	for i := range 2 {
		hup <- syscall.SIGHUP
		if got := read(); got != "RELOADING=1" {
			t.Fatalf("after SIGHUP %d got %q, want RELOADING=1", i, got)
		}
		if got := read(); got != "READY=1" {
			t.Fatalf("after reload %d got %q, want READY=1", i, got)
		}
	}
	cancel()
	for _, want := range []string{"SIGHUP: reloaded: 1 peer added", "SIGHUP: reload failed", "mesh.psk:2"} {
		if !strings.Contains(logBuf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logBuf.String())
		}
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "creds")
	os.Mkdir(creds, 0o700)
	const key = "check-config-secret-key-0123"
	os.WriteFile(filepath.Join(creds, "mesh.psk"), []byte("198.51.100.1 198.51.100.2\n"+key+"\n"), 0o600)
	good := filepath.Join(dir, "good.env")
	os.WriteFile(good, []byte("METRO_CREDS_DIR="+creds+"\nMETRO_ISAKMP_IKE_ALTERNATIVE_PORT=600\nMETRO_MSS=1300\n"), 0o600)
	bad := filepath.Join(dir, "bad.env")
	os.WriteFile(bad, []byte("METRO_CREDS_DIR="+creds+"\nMETRO_MSS=12\n"), 0o600)

	var out, errb bytes.Buffer
	stdout = &out
	defer func() { stdout = os.Stdout }()
	if code := run([]string{"--config", good, "--check-config"}, &errb); code != 0 {
		t.Fatalf("--check-config on a good file: exit %d\n%s", code, errb.String())
	}
	for _, want := range []string{
		"METRO_ISAKMP_IKE_ALTERNATIVE_PORT=600\t# " + good + ":2",
		"METRO_MSS=1300",
		"METRO_ISAKMP_IKE_PORT=500\t# default",
		"METRO_CREDS_DIR=" + creds,
		"IKE proposals: aes",
		"ESP proposals: aes",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String()+errb.String(), key) {
		t.Error("--check-config printed the pre-shared key")
	}

	out.Reset()
	errb.Reset()
	if code := run([]string{"--config", bad, "--check-config"}, &errb); code != 1 {
		t.Fatalf("--check-config on a bad file: exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "METRO_MSS") || !strings.Contains(errb.String(), "bad.env:2") {
		t.Errorf("error does not name the variable and line:\n%s", errb.String())
	}
}
