package vmtest

import (
	"context"
	"os"
	"testing"
)

// RunForTest is Run for Go tests: it fails t when the VM fails (the error
// carries the console tail) or when the command exits non-zero (then the
// command's output and the whole console are logged). It returns the result
// of a successful run.
func RunForTest(ctx context.Context, t testing.TB, o Options) *Result {
	t.Helper()
	res, err := Run(ctx, o)
	if err != nil {
		if res != nil {
			t.Logf("vmtest: console log: %s", res.ConsoleLog)
		}
		t.Fatalf("%v", err)
		return nil
	}
	if res.ExitCode != 0 {
		console, _ := os.ReadFile(res.ConsoleLog)
		t.Logf("vmtest: console (%s):\n%s", res.ConsoleLog, console)
		t.Fatalf("vmtest: %q exited %d; output:\n%s", o.Command, res.ExitCode, res.Output)
		return nil
	}
	return res
}
