package vmtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// bootable skips unless a real VM can be booted here.
func bootable(t *testing.T) *Kernel {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a VM; skipped with -short")
	}
	if os.Getenv("METRO_VM") == "1" {
		t.Skip("already inside the VM")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	k, err := FindKernel(CacheDir())
	if err != nil {
		t.Skipf("%v", err)
	}
	return k
}

// consoleOnFailure puts the console into the test log when the test fails.
func consoleOnFailure(t *testing.T, res *Result) {
	t.Cleanup(func() {
		if t.Failed() && res != nil {
			b, _ := os.ReadFile(res.ConsoleLog)
			t.Logf("console (%s):\n%s", res.ConsoleLog, b)
		}
	})
}

func TestBoot(t *testing.T) {
	k := bootable(t)
	script := `set -e
echo "hello from $(uname -r) in $(pwd)"
grep -q '^esp4 ' /proc/modules
grep -q '^esp6 ' /proc/modules
grep -q '^xfrm_user ' /proc/modules
echo written >"$METRO_VM_RESULTS/from-guest"
touch /tmp/scratch /usr/overlay-write   # tmpfs and overlay are writable
echo "env=$METRO_VM $GREETING"
exit 7`
	res, err := Run(t.Context(), Options{
		Command:    []string{"sh", "-c", script},
		Dir:        "/usr",
		Env:        []string{"GREETING=hi there"},
		Kernel:     k,
		Timeout:    3 * time.Minute,
		ResultsDir: t.TempDir(),
	})
	consoleOnFailure(t, res)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("boot %v, total %v", res.BootTime, res.Duration)
	if res.ExitCode != 7 {
		t.Errorf("exit code %d, want 7; output:\n%s", res.ExitCode, res.Output)
	}
	out := string(res.Output)
	if !strings.Contains(out, "hello from "+k.Version+" in /usr") || !strings.Contains(out, "env=1 hi there") {
		t.Errorf("unexpected output:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(res.ResultsDir, "from-guest")); err != nil || string(b) != "written\n" {
		t.Errorf("results share: %q, %v", b, err)
	}
	if _, err := os.Stat("/usr/overlay-write"); err == nil {
		t.Errorf("guest write leaked to the host's /usr")
	}
	if res.BootTime <= 0 || res.BootTime > res.Duration {
		t.Errorf("BootTime %v, Duration %v", res.BootTime, res.Duration)
	}
	console, _ := os.ReadFile(res.ConsoleLog)
	if !strings.Contains(string(console), "metro-vm: exit 7") {
		t.Errorf("console lacks the exit line")
	}
}

func TestBootMissingModule(t *testing.T) {
	k := bootable(t)
	res, err := Run(t.Context(), Options{
		Command:    []string{"true"},
		Kernel:     k,
		Modules:    []string{"metro_no_such_module"},
		Timeout:    3 * time.Minute,
		ResultsDir: t.TempDir(),
	})
	var be *BootError
	if !errors.As(err, &be) || !strings.Contains(be.Reason, "metro_no_such_module") {
		consoleOnFailure(t, res)
		t.Fatalf("err = %v, want a BootError naming the module", err)
	}
}

func TestBootTimeout(t *testing.T) {
	k := bootable(t)
	start := time.Now()
	_, err := Run(t.Context(), Options{Command: []string{"sleep", "600"}, Kernel: k, Timeout: 3 * time.Second, ResultsDir: t.TempDir()})
	var be *BootError
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &be) {
		t.Fatalf("err = %v, want a BootError wrapping ErrTimeout", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("timeout took %v", d)
	}
}

func TestBootBadKernel(t *testing.T) {
	k := bootable(t)
	bad := *k
	bad.Image = filepath.Join(t.TempDir(), "vmlinuz-garbage")
	if err := os.WriteFile(bad.Image, []byte("not a kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Run(t.Context(), Options{Command: []string{"true"}, Kernel: &bad, Timeout: time.Minute, ResultsDir: t.TempDir()})
	var be *BootError
	if !errors.As(err, &be) || !strings.Contains(be.Reason, "did not boot") {
		t.Fatalf("err = %v, want a BootError saying the VM did not boot", err)
	}
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	logs   []string
	failed bool
}

func (r *recorder) Helper()                   {}
func (r *recorder) Logf(f string, a ...any)   { r.logs = append(r.logs, fmt.Sprintf(f, a...)) }
func (r *recorder) Fatalf(f string, a ...any) { r.Logf(f, a...); r.failed = true; runtime.Goexit() }

func TestRunForTestReportsBootFailure(t *testing.T) {
	k := bootable(t)
	bad := *k
	bad.Image = filepath.Join(t.TempDir(), "vmlinuz-garbage")
	if err := os.WriteFile(bad.Image, []byte("not a kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunForTest(t.Context(), r, Options{Command: []string{"true"}, Kernel: &bad, Timeout: time.Minute, ResultsDir: t.TempDir()})
	}()
	<-done
	all := strings.Join(r.logs, "\n")
	if !r.failed || !strings.Contains(all, "did not boot") || !strings.Contains(all, "console tail") {
		t.Errorf("failed=%v logs:\n%s", r.failed, all)
	}
}
