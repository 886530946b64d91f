package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCountTests(t *testing.T) {
	out := `=== RUN   TestA
--- PASS: TestA (0.01s)
=== RUN   TestB
=== RUN   TestB/sub
    --- FAIL: TestB/sub (0.00s)
--- FAIL: TestB (0.00s)
=== RUN   TestC
    c_test.go:9: needs METRO_VM
--- SKIP: TestC (0.00s)
--- PASS: TestD (1.20s)
FAIL
`
	p, f, s := countTests(strings.NewReader(out))
	if p != 2 || f != 1 || s != 1 {
		t.Errorf("countTests = %d passed, %d failed, %d skipped; want 2, 1, 1", p, f, s)
	}
}

func TestSummarize(t *testing.T) {
	rs := []pkgResult{
		{Pkg: "metro/e2e", Passed: 3, Skipd: 1},
		{Pkg: "metro/xfrm", Passed: 2, Failed: 1, Exit: 1},
		{Pkg: "metro/crash", Passed: 1, Exit: 2},
		{Pkg: "metro/broken", Exit: -1, Note: "test binary does not compile"},
	}
	for i := range rs {
		rs[i].finish()
	}
	var buf bytes.Buffer
	p, f := summarize(&buf, rs)
	if p != 6 || f != 3 {
		t.Errorf("totals = %d passed, %d failed; want 6, 3", p, f)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if got := lines[len(lines)-1]; got != "vm: 6 passed, 3 failed" {
		t.Errorf("summary line %q", got)
	}
	for _, want := range []string{
		"vm: ok   metro/e2e (3 passed, 0 failed, 1 skipped)",
		"vm: FAIL metro/xfrm (2 passed, 1 failed, 0 skipped)",
		"vm: FAIL metro/crash (1 passed, 1 failed, 0 skipped): exit status 2 without a failing test",
		"vm: FAIL metro/broken (0 passed, 1 failed, 0 skipped): test binary does not compile",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, buf.String())
		}
	}
}

// TestTestScript runs the generated in-VM script on the host with fake test
// binaries and checks what collect reads back.
func TestTestScript(t *testing.T) {
	dir := t.TempDir()
	results := filepath.Join(dir, "results")
	pkgDir := filepath.Join(dir, "pkg dir") // spaces must survive quoting
	if err := os.MkdirAll(pkgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.test", `echo "args: $*"; echo "cwd: $(pwd)"; echo "--- PASS: TestGood (0.00s)"; exit 0`)
	bad := write("bad.test", `echo "--- PASS: TestOne (0.00s)"; echo "--- FAIL: TestTwo (0.00s)" >&2; exit 1`)
	tests := []testBinary{
		{Pkg: "metro/good", Dir: pkgDir, Path: good, Key: "metro_good"},
		{Pkg: "metro/bad", Dir: pkgDir, Path: bad, Key: "metro_bad"},
		{Pkg: "metro/broken", Dir: pkgDir, Key: "metro_broken"},
		{Pkg: "metro/nodir", Dir: filepath.Join(dir, "missing"), Path: good, Key: "metro_nodir"},
	}
	script := testScript(tests, []string{"-test.v", "-test.run=It's"})
	cmd := exec.Command("sh", "-c", string(script))
	cmd.Env = append(os.Environ(), "METRO_VM_RESULTS="+results)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("script: %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{"args: -test.v -test.run=It's", "cwd: " + pkgDir, "=== vm: END metro_bad (exit 1)", "=== vm: END metro_nodir (exit 125)"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("script output lacks %q:\n%s", want, out)
		}
	}
	want := map[string]pkgResult{
		"metro/good":   {Pkg: "metro/good", Passed: 1, Exit: 0},
		"metro/bad":    {Pkg: "metro/bad", Passed: 1, Failed: 1, Exit: 1},
		"metro/broken": {Pkg: "metro/broken", Failed: 1, Exit: -1, Note: "test binary does not compile"},
		"metro/nodir":  {Pkg: "metro/nodir", Failed: 1, Exit: 125, Note: "exit status 125 without a failing test (panic or timeout?)"},
	}
	for _, tb := range tests {
		if got := collect(results, tb, false); got != want[tb.Pkg] {
			t.Errorf("collect(%s) = %+v, want %+v", tb.Pkg, got, want[tb.Pkg])
		}
	}
	// A VM failure before a binary ran is reported as such.
	missing := testBinary{Pkg: "metro/late", Dir: pkgDir, Path: good, Key: "metro_late"}
	if got := collect(results, missing, true); got.Failed != 1 || !strings.Contains(got.Note, "VM failed") {
		t.Errorf("collect after VM failure = %+v", got)
	}
}
