package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"metro/policy"
)

var updateExample = flag.Bool("update-example", false, "rewrite config.example at the repository root")

// exampleConfig renders config.example from policy.Variables(), so the
// example documents every variable with its real default.
func exampleConfig() string {
	var b strings.Builder
	b.WriteString(`# metro configuration: copy to /etc/metro/config.env (see docs/install.md).
#
# One KEY=VALUE per line; blank lines and lines starting with # are ignored;
# values may be quoted and are never expanded ($X stays $X). A value set on
# metrod's command line wins over the environment, which wins over this
# file, which wins over the defaults. Check the result with
#   metrod --check-config
#
# Every variable is listed below, commented out, with its default.
# Generated from policy.Variables() by
#   go test ./cmd/metrod -run TestConfigExample -update-example
`)
	for _, v := range policy.Variables() {
		b.WriteString("\n")
		for _, line := range wrap(v.Doc, 74) {
			b.WriteString("# " + line + "\n")
		}
		literal := v.Default != "" && !strings.ContainsAny(v.Default, " $")
		switch {
		case v.Default == "":
			b.WriteString("# Default: unset.\n#" + v.Name + "=\n")
		case literal:
			b.WriteString("#" + v.Name + "=" + v.Default + "\n")
		default:
			b.WriteString("# Default: " + v.Default + ".\n#" + v.Name + "=\n")
		}
	}
	return b.String()
}

func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// TestConfigExample fails when config.example drifts from the variable
// table, and checks that the example, uncommented, is a valid configuration
// equal to the defaults.
func TestConfigExample(t *testing.T) {
	path := filepath.Join("..", "..", "config.example")
	want := exampleConfig()
	if *updateExample {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it with -update-example)", err)
	}
	if string(got) != want {
		t.Fatalf("config.example is out of date with policy.Variables(); run\n  go test ./cmd/metrod -run TestConfigExample -update-example")
	}
	for _, v := range policy.Variables() {
		if !strings.Contains(want, "\n#"+v.Name+"=") {
			t.Errorf("config.example does not list %s", v.Name)
		}
	}

	// Uncommenting every literal default gives the same configuration
	// as no file at all.
	dir := t.TempDir()
	var lines []string
	for _, l := range strings.Split(want, "\n") {
		if strings.HasPrefix(l, "#METRO_") && !strings.HasSuffix(l, "=") {
			lines = append(lines, strings.TrimPrefix(l, "#"))
		}
	}
	if len(lines) < 5 {
		t.Fatalf("only %d literal defaults in the example", len(lines))
	}
	lines = append(lines, "METRO_CREDS_DIR="+dir, "METRO_PARENT_HOSTNAME=example")
	file := filepath.Join(dir, "config.env")
	os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	load := func(f string) map[string]string {
		o := policy.LoadOptions{ConfigFile: f, ConfigExplicit: f != "",
			Flags: map[string]string{"METRO_CREDS_DIR": dir, "METRO_PARENT_HOSTNAME": "example"}}
		if f == "" {
			o.ConfigFile = filepath.Join(dir, "absent.env")
		}
		c, _, err := policy.Load(o)
		if err != nil {
			t.Fatalf("loading %s: %v", f, err)
		}
		m := map[string]string{}
		for _, kv := range c.Effective() {
			m[kv.Name] = kv.Value
		}
		return m
	}
	withFile, defaults := load(file), load("")
	for k, v := range defaults {
		if withFile[k] != v {
			t.Errorf("%s: example %q, default %q", k, withFile[k], v)
		}
	}
}
