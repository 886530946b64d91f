package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"metro/policy"
)

// flagTestValues holds, per variable flag, a value that --check-config
// accepts (or, for flagErrors, one it rejects naming the flag).
var flagTestValues = map[string]string{
	"hostname":               "h1",
	"ike-port":               "5500",
	"natt-port":              "5501",
	"domain":                 "example.com",
	"crt-servers":            "a.b",
	"ike-proposals":          "aes128gcm16-prfsha256-x25519",
	"esp-proposals":          "aes128gcm16",
	"dpd-interval":           "45s",
	"start":                  "on-demand",
	"ike-lifetime":           "3h",
	"child-lifetime":         "30m",
	"mss":                    "1300",
	"ike-fragment-size":      "off",
	"child-lifetime-bytes":   "4G",
	"child-lifetime-packets": "1000000",
	"ike-alt-port":           "600",
	"natt-alt-port":          "601",
	// creds-dir, ca-cert and keylog take paths made by the test.
}

// flagErrors are the flags whose test value is invalid: certificate
// servers need certificates, which this test does not make.
var flagErrors = map[string]bool{"crt-servers": true}

// TestEveryVariableHasItsFlag: every variable of the table with a Flag
// has that flag on metrod's command line, and a value given there reaches
// the configuration as coming from that flag.
func TestEveryVariableHasItsFlag(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "creds")
	os.Mkdir(creds, 0o700)
	os.WriteFile(filepath.Join(creds, "mesh.psk"), []byte("198.51.100.1 198.51.100.2\nflag-test-key-0123\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("not read by --check-config without certificate servers\n"), 0o600)
	conf := filepath.Join(dir, "config.env")
	os.WriteFile(conf, []byte("METRO_CREDS_DIR="+creds+"\n"), 0o600)
	values := map[string]string{
		"creds-dir": creds,
		"ca-cert":   filepath.Join(dir, "ca.crt"),
		"keylog":    filepath.Join(dir, "keys.log"),
	}
	for k, v := range flagTestValues {
		values[k] = v
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	stdout = &out
	defer func() { stdout = os.Stdout }()

	n := 0
	for _, v := range policy.Variables() {
		if v.Flag == "" {
			continue
		}
		n++
		t.Run(v.Flag, func(t *testing.T) {
			if !bytes.Contains(readme, []byte("`--"+v.Flag+"`")) {
				t.Errorf("README.md does not list --%s among metrod's flags", v.Flag)
			}
			value, ok := values[v.Flag]
			if !ok {
				t.Fatalf("no test value for --%s (%s): add one to flagTestValues", v.Flag, v.Name)
			}
			out.Reset()
			var errb bytes.Buffer
			code := run([]string{"--config", conf, "--check-config", "--" + v.Flag, value}, &errb)
			if flagErrors[v.Flag] {
				if code != 1 || !strings.Contains(errb.String(), "--"+v.Flag+"=") {
					t.Fatalf("--%s %q: exit %d, want 1 and an error naming the flag:\n%s", v.Flag, value, code, errb.String())
				}
				return
			}
			if code != 0 {
				t.Fatalf("--%s %q: exit %d:\n%s", v.Flag, value, code, errb.String())
			}
			found := false
			for _, line := range strings.Split(out.String(), "\n") {
				found = found || strings.HasPrefix(line, v.Name+"=") && strings.HasSuffix(line, "\t# --"+v.Flag)
			}
			if !found {
				t.Errorf("--%s %q did not set %s:\n%s", v.Flag, value, v.Name, out.String())
			}
		})
	}
	if n < 3 {
		t.Fatalf("only %d variables have a flag", n)
	}
}

// TestVariableFlagPrecedence: flag over environment over file; an empty
// flag given explicitly counts (as an empty line in config.env would).
func TestVariableFlagPrecedence(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "creds")
	os.Mkdir(creds, 0o700)
	conf := filepath.Join(dir, "config.env")
	os.WriteFile(conf, []byte("METRO_CREDS_DIR="+creds+"\nMETRO_START=connect\nMETRO_DOMAIN=example.com\n"), 0o600)
	var out bytes.Buffer
	stdout = &out
	defer func() { stdout = os.Stdout }()
	check := func(args []string, want ...string) {
		t.Helper()
		out.Reset()
		var errb bytes.Buffer
		if code := run(append([]string{"--config", conf, "--check-config"}, args...), &errb); code != 0 {
			t.Fatalf("%q: exit %d:\n%s", args, code, errb.String())
		}
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%q: output lacks %q:\n%s", args, w, out.String())
			}
		}
	}
	check(nil, "METRO_START=connect\t# "+conf+":2")
	t.Setenv("METRO_START", "on-demand")
	check(nil, "METRO_START=on-demand\t# env")
	check([]string{"--start", "connect"}, "METRO_START=connect\t# --start")
	check([]string{"--domain", ""}, `METRO_DOMAIN=""`+"\t# --domain")
}
