package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// These run on any kernel: every case fails while loading the
// configuration, before metrod opens netlink.
func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "creds")
	os.Mkdir(creds, 0o700)
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badPort := write("port.env", "METRO_CREDS_DIR="+creds+"\n# a comment\nMETRO_ISAKMP_IKE_PORT=0\n")
	badProp := write("prop.env", "METRO_CREDS_DIR="+creds+"\nMETRO_ESP_PROPOSALS=3des-sha1\n")
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"unknown flag", []string{"--nope"}, 2, []string{"flag provided but not defined"}},
		{"stray argument", []string{"extra"}, 2, []string{"unexpected argument"}},
		{"missing explicit config", []string{"--config", filepath.Join(dir, "absent.env")}, 1, []string{"absent.env"}},
		{"bad port in file", []string{"--config", badPort}, 1, []string{"port.env:3", "METRO_ISAKMP_IKE_PORT"}},
		{"bad port flag", []string{"--config", badPort, "--ike-port", "x"}, 1, []string{"--ike-port", "x"}},
		{"missing creds dir", []string{"--config", badPort, "--ike-port", "500", "--creds-dir", filepath.Join(dir, "none")}, 1, []string{"--creds-dir", "no such directory"}},
		{"bad --local-addrs", []string{"--local-addrs", "127.0.1.x"}, 2, []string{"--local-addrs", "127.0.1.x"}},
		{"--local-addrs without memory backend", []string{"--config", write("ok.env", "METRO_CREDS_DIR="+creds+"\n"), "--local-addrs", "127.0.1.1"}, 1, []string{"--local-addrs", "memory"}},
		{"weak ESP proposal", []string{"--config", badProp}, 1, []string{"METRO_ESP_PROPOSALS", "3des"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(c.args, &stderr)
			if code != c.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, c.code, stderr.String())
			}
			for _, w := range c.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

// TestProfileFlagsHidden checks that the profiling flags parse but stay
// out of the usage text.
func TestProfileFlagsHidden(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"-h"}, &stderr); code != 0 {
		t.Fatalf("-h: exit code %d", code)
	}
	usage := stderr.String()
	if !strings.Contains(usage, "-local-addrs") {
		t.Fatalf("usage lacks the visible flags:\n%s", usage)
	}
	for _, f := range []string{"cpuprofile", "memprofile"} {
		if strings.Contains(usage, f) {
			t.Errorf("usage shows hidden flag %s", f)
		}
	}
	// Parsed like any flag: a bad path fails at start, before any work.
	stderr.Reset()
	dir := filepath.Join(t.TempDir(), "absent")
	if code := run([]string{"--cpuprofile", filepath.Join(dir, "cpu.prof")}, &stderr); code != 2 || !strings.Contains(stderr.String(), "--cpuprofile") {
		t.Fatalf("unwritable --cpuprofile: exit code %d, stderr:\n%s", code, stderr.String())
	}
}
