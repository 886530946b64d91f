package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// pkgResult is the outcome of one test binary.
type pkgResult struct {
	Pkg                   string
	Passed, Failed, Skipd int
	Exit                  int    // binary's exit status; -1 when it did not run
	Note                  string // why the package failed without a failing test
}

// ok reports whether the package passed.
func (r pkgResult) ok() bool { return r.Exit == 0 && r.Failed == 0 }

// countTests counts the top-level test verdicts in `go test -v` output.
// Subtests are indented and not counted.
func countTests(r io.Reader) (passed, failed, skipped int) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for s.Scan() {
		line := s.Text()
		switch {
		case strings.HasPrefix(line, "--- PASS: "):
			passed++
		case strings.HasPrefix(line, "--- FAIL: "):
			failed++
		case strings.HasPrefix(line, "--- SKIP: "):
			skipped++
		}
	}
	return
}

// finish fills in the package-level failure when the binary failed without
// a failing test (panic, timeout, build error, crash).
func (r *pkgResult) finish() {
	if r.Exit != 0 && r.Failed == 0 {
		r.Failed = 1
		if r.Note == "" {
			switch r.Exit {
			case -1:
				r.Note = "did not run"
			default:
				r.Note = fmt.Sprintf("exit status %d without a failing test (panic or timeout?)", r.Exit)
			}
		}
	}
}

// summarize prints one line per package and the final summary line
// "vm: N passed, N failed", and returns the totals.
func summarize(w io.Writer, results []pkgResult) (passed, failed int) {
	for _, r := range results {
		verdict := "ok  "
		if !r.ok() {
			verdict = "FAIL"
		}
		line := fmt.Sprintf("vm: %s %s (%d passed, %d failed, %d skipped)", verdict, r.Pkg, r.Passed, r.Failed, r.Skipd)
		if r.Note != "" {
			line += ": " + r.Note
		}
		fmt.Fprintln(w, line)
		passed += r.Passed
		failed += r.Failed
	}
	fmt.Fprintf(w, "vm: %d passed, %d failed\n", passed, failed)
	return passed, failed
}
