// Command metro-vmtest runs metro's kernel-dependent tests, or any script,
// inside the VM test bed (see metro/vmtest).
//
// Usage:
//
//	metro-vmtest [flags] [-- test binary flags]
//	metro-vmtest -script scripts/demo.sh
//
// By default it builds the commands under ./cmd statically into bin/,
// compiles a test binary for every package that needs the VM (vmPackages,
// or -pkgs), boots one VM and runs each binary there with -test.v from its
// package directory. Test output streams to stdout; the last line is
// "vm: N passed, N failed". The exit status is 0 only when every package
// passed; 2 means the VM itself failed (did not boot, timed out, a kernel
// module was missing).
//
// With -script, it builds bin/ and runs the script with /bin/sh in the VM
// from the module root (METRO_ROOT and METRO_BIN are set), exiting with the
// script's status.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"metro/vmtest"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		pkgs        = flag.String("pkgs", strings.Join(vmPackages, ","), "comma-separated packages whose tests run in the VM")
		runRE       = flag.String("run", "", "passed to the test binaries as -test.run")
		script      = flag.String("script", "", "run this shell script in the VM instead of the tests")
		timeout     = flag.Duration("timeout", 45*time.Minute, "limit for the whole VM run, boot included")
		testTimeout = flag.Duration("test-timeout", 30*time.Minute, "passed to each test binary as -test.timeout (the e2e package runs the interop scenarios too)")
		build       = flag.Bool("build", true, "build ./cmd/... into bin/ first")
		fetch       = flag.Bool("fetch", true, "run scripts/vm-kernel.sh when the kernel cache is empty")
		mem         = flag.Int("mem", 2048, "VM memory in MiB")
		cpus        = flag.Int("smp", 2, "VM CPUs")
		verbose     = flag.Bool("v", false, "log harness progress")
	)
	flag.Parse()
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	start := time.Now()

	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "metro-vmtest: %v\n", err)
		return 2
	}
	if *build {
		built := buildCommands(root, log)
		fmt.Printf("vm: built %s into bin/\n", strings.Join(built, ", "))
	}
	k, err := findOrFetchKernel(root, *fetch)
	if err != nil {
		fmt.Fprintf(os.Stderr, "metro-vmtest: %v\n", err)
		return 2
	}
	work, err := newWorkDir(root)
	if err != nil {
		fmt.Fprintf(os.Stderr, "metro-vmtest: %v\n", err)
		return 2
	}
	results := filepath.Join(work, "results")

	opts := vmtest.Options{
		Dir:        root,
		Env:        []string{"METRO_ROOT=" + root, "METRO_BIN=" + filepath.Join(root, "bin")},
		Timeout:    *timeout,
		Stdout:     os.Stdout,
		ResultsDir: results,
		Kernel:     k,
		MemoryMB:   *mem,
		CPUs:       *cpus,
		HostTmp:    underTmp(root),
		Logger:     log,
	}
	var tests []testBinary
	if *script != "" {
		abs, err := filepath.Abs(*script)
		if err != nil {
			fmt.Fprintf(os.Stderr, "metro-vmtest: %v\n", err)
			return 2
		}
		if _, err := os.Stat(abs); err != nil {
			fmt.Fprintf(os.Stderr, "metro-vmtest: %v\n", err)
			return 2
		}
		opts.HostTmp = opts.HostTmp || underTmp(abs)
		opts.Command = []string{"/bin/sh", abs}
	} else {
		tests = buildTests(root, filepath.Join(work, "tests"), splitList(*pkgs), log)
		args := []string{"-test.v", "-test.timeout=" + testTimeout.String()}
		if *runRE != "" {
			args = append(args, "-test.run="+*runRE)
		}
		args = append(args, flag.Args()...)
		jobPath := filepath.Join(work, "run-tests.sh")
		if err := os.WriteFile(jobPath, testScript(tests, args), 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "metro-vmtest: %v\n", err)
			return 2
		}
		opts.Command = []string{"/bin/sh", jobPath}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("vm: booting %s (results in %s)\n", k.Version, results)
	res, vmErr := vmtest.Run(ctx, opts)
	if res != nil {
		fmt.Printf("vm: boot %.1fs, VM run %.1fs, total %.1fs\n",
			res.BootTime.Seconds(), res.Duration.Seconds(), time.Since(start).Seconds())
	}
	if vmErr != nil {
		fmt.Printf("vm: VM FAILED: %v\n", vmErr)
		if errors.Is(vmErr, vmtest.ErrTimeout) {
			fmt.Printf("vm: timed out after %v\n", *timeout)
		}
	}
	if *script != "" {
		if vmErr != nil {
			return 2
		}
		fmt.Printf("vm: script exited %d\n", res.ExitCode)
		return min(res.ExitCode, 125)
	}

	var rs []pkgResult
	for _, tb := range tests {
		rs = append(rs, collect(results, tb, vmErr != nil))
	}
	_, failed := summarize(os.Stdout, rs)
	switch {
	case vmErr != nil:
		return 2
	case failed > 0:
		return 1
	}
	return 0
}

// collect reads the outcome of one test binary from the results directory.
func collect(results string, tb testBinary, vmFailed bool) pkgResult {
	r := pkgResult{Pkg: tb.Pkg, Exit: -1}
	if tb.Path == "" {
		r.Note = "test binary does not compile"
		r.finish()
		return r
	}
	if b, err := os.ReadFile(filepath.Join(results, "tests", tb.Key+".exit")); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			r.Exit = n
		}
	}
	if f, err := os.Open(filepath.Join(results, "tests", tb.Key+".log")); err == nil {
		r.Passed, r.Failed, r.Skipd = countTests(f)
		f.Close()
	}
	if r.Exit == -1 && vmFailed {
		r.Note = "did not finish: the VM failed"
	}
	r.finish()
	return r
}

// testScript is the shell script run in the VM: each test binary from its
// package directory, its output to the console and to tests/<key>.log, its
// exit status to tests/<key>.exit.
func testScript(tests []testBinary, args []string) []byte {
	var b strings.Builder
	b.WriteString(`# generated by metro-vmtest
out="$METRO_VM_RESULTS/tests"
mkdir -p "$out"
failed=0
run() {
	key=$1 dir=$2 bin=$3
	shift 3
	echo "=== vm: RUN $key"
	if cd "$dir"; then
		( "$bin" "$@" 2>&1; echo $? >"$out/$key.exit" ) | tee "$out/$key.log"
	else
		echo 125 >"$out/$key.exit"
	fi
	code=$(cat "$out/$key.exit")
	echo "=== vm: END $key (exit $code)"
	[ "$code" = 0 ] || failed=1
}
`)
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	for _, tb := range tests {
		if tb.Path == "" {
			continue
		}
		fmt.Fprintf(&b, "run %s %s %s %s\n", shellQuote(tb.Key), shellQuote(tb.Dir), shellQuote(tb.Path), strings.Join(quoted, " "))
	}
	b.WriteString("exit $failed\n")
	return []byte(b.String())
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// underTmp reports whether p lies under /tmp, which the VM normally hides.
func underTmp(p string) bool {
	return p == "/tmp" || strings.HasPrefix(p, "/tmp/")
}

// findOrFetchKernel locates the VM kernel, running scripts/vm-kernel.sh
// first when the cache is empty and fetch is set.
func findOrFetchKernel(root string, fetch bool) (*vmtest.Kernel, error) {
	k, err := vmtest.FindKernel(vmtest.CacheDir())
	if err == nil || !errors.Is(err, vmtest.ErrNoKernel) || !fetch {
		return k, err
	}
	fmt.Println("vm: no kernel in cache; running scripts/vm-kernel.sh")
	cmd := exec.Command(filepath.Join(root, "scripts", "vm-kernel.sh"))
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("scripts/vm-kernel.sh: %w", err)
	}
	return vmtest.FindKernel(vmtest.CacheDir())
}

// newWorkDir creates a fresh per-run directory under .cache/vmtest (not
// /tmp: the guest mounts a fresh tmpfs there), points .cache/vmtest/latest
// at it, and prunes runs older than a day. Runs never share a directory, so
// concurrent runs do not overwrite each other's binaries.
func newWorkDir(root string) (string, error) {
	base := filepath.Join(root, ".cache", "vmtest")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	ents, _ := os.ReadDir(base)
	var old []string
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "run-") {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			old = append(old, filepath.Join(base, e.Name()))
		}
	}
	sort.Strings(old)
	for _, d := range old {
		os.RemoveAll(d)
	}
	dir := filepath.Join(base, fmt.Sprintf("run-%s-%d", time.Now().Format("20060102-150405"), os.Getpid()))
	if err := os.MkdirAll(filepath.Join(dir, "results"), 0o755); err != nil {
		return "", err
	}
	latest := filepath.Join(base, "latest")
	tmp := latest + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.Symlink(filepath.Base(dir), tmp); err == nil {
		if err := os.Rename(tmp, latest); err != nil {
			os.Remove(tmp)
		}
	}
	return dir, nil
}
