package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RequiredModules are loaded in every VM; a failure to load one fails the run.
var RequiredModules = []string{"esp4", "esp6", "xfrm_user", "gcm", "veth", "af_packet"}

// OptionalModules are loaded when the kernel has them, for the other
// algorithms metro may negotiate.
var OptionalModules = []string{
	"chacha20poly1305", "cbc", "aes_generic", "sha256_generic", "sha512_generic",
	"hmac", "authenc", "authencesn", "echainiv", "seqiv", "ctr", "ghash_generic",
}

// Options configure one VM run.
type Options struct {
	// Command is the argv run inside the VM with /bin/sh semantics for
	// lookup (PATH). Paths refer to the host file system, which the guest
	// sees at the same paths, except under /tmp and /run (fresh tmpfs).
	Command []string
	// Dir is the working directory of Command inside the VM (default "/").
	Dir string
	// Env holds extra KEY=VALUE pairs for Command. METRO_VM=1 and
	// METRO_VM_RESULTS are always set.
	Env []string
	// Timeout bounds the whole run, boot included (default 10 minutes).
	Timeout time.Duration

	// Stdout receives the serial console live, carriage returns removed.
	Stdout io.Writer
	// ResultsDir is the host directory shared writable with the guest and
	// mounted there at the same path. Empty means a new temporary directory,
	// which the caller owns (see Result.ResultsDir).
	ResultsDir string
	// ConsoleLog is where the console is saved (default ResultsDir/console.log).
	ConsoleLog string
	// HostTmp keeps the host's /tmp visible in the guest (writable through
	// the overlay) instead of mounting a fresh tmpfs there. Needed when the
	// command or its files live under /tmp.
	HostTmp bool

	// CacheDir holds kernels and initramfs archives (default CacheDir()).
	CacheDir string
	// Kernel to boot (default FindKernel(CacheDir)).
	Kernel *Kernel
	// Busybox is a statically linked busybox (default: found on the host).
	Busybox string
	// Modules are loaded in addition to RequiredModules; each must load.
	Modules []string
	// MemoryMB and CPUs size the VM (default 2048 and 2).
	MemoryMB, CPUs int
	// QEMU is the emulator binary (default qemu-system-x86_64).
	QEMU string
	// Logger receives progress messages (default: discarded).
	Logger *slog.Logger
}

// Result describes a finished run.
type Result struct {
	ExitCode   int           // Command's exit status
	Output     []byte        // Command's stdout and stderr
	ResultsDir string        // the shared directory
	ConsoleLog string        // path of the saved console
	BootTime   time.Duration // from qemu start until Command started
	Duration   time.Duration // whole run
}

// ErrTimeout is wrapped by the error Run returns when the VM runs out of time.
var ErrTimeout = errors.New("vmtest: VM timed out")

// BootError is returned when the VM stopped before the command finished:
// it did not boot, setup failed (e.g. a required module is missing), it
// crashed, or it timed out (then Err is ErrTimeout). Console holds the tail
// of the console log.
type BootError struct {
	Reason  string
	Console string
	Err     error
}

func (e *BootError) Error() string {
	return fmt.Sprintf("vmtest: %s\n--- console tail ---\n%s--- end of console tail ---", e.Reason, e.Console)
}

func (e *BootError) Unwrap() error { return e.Err }

// controlDir is the directory inside ResultsDir holding harness files.
const controlDir = ".metro-vm"

// readyMarker is the console line stage 2 prints right before the job.
const readyMarker = "metro-vm: ready"

// Run boots a VM and runs o.Command in it. It returns an error when the VM
// cannot be started, does not boot, fails setup, or times out; the
// command's own failure is reported through Result.ExitCode.
func Run(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	if len(o.Command) == 0 {
		return nil, errors.New("vmtest: Options.Command is empty")
	}
	if err := checkGuestPath("Options.Dir", o.Dir, o.HostTmp); err != nil {
		return nil, err
	}
	if strings.Contains(o.Command[0], "/") {
		if err := checkGuestPath("Options.Command[0]", o.Command[0], o.HostTmp); err != nil {
			return nil, err
		}
	}
	for _, kv := range o.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || !validEnvName(k) {
			return nil, fmt.Errorf("vmtest: Options.Env entry %q is not KEY=VALUE", kv)
		}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.MemoryMB <= 0 {
		o.MemoryMB = 2048
	}
	if o.CPUs <= 0 {
		o.CPUs = 2
	}
	if o.QEMU == "" {
		o.QEMU = "qemu-system-x86_64"
	}
	if o.CacheDir == "" {
		o.CacheDir = CacheDir()
	}
	k := o.Kernel
	if k == nil {
		var err error
		if k, err = FindKernel(o.CacheDir); err != nil {
			return nil, err
		}
	}
	initrd, err := Initramfs(o.CacheDir, k, o.Busybox)
	if err != nil {
		return nil, err
	}

	if o.ResultsDir == "" {
		if o.ResultsDir, err = os.MkdirTemp("", "metro-vm-results-"); err != nil {
			return nil, fmt.Errorf("vmtest: %w", err)
		}
	}
	if o.ResultsDir, err = filepath.Abs(o.ResultsDir); err != nil {
		return nil, fmt.Errorf("vmtest: %w", err)
	}
	ctl := filepath.Join(o.ResultsDir, controlDir)
	if err := os.RemoveAll(ctl); err != nil {
		return nil, fmt.Errorf("vmtest: clearing %s: %w", ctl, err)
	}
	if err := os.MkdirAll(ctl, 0o755); err != nil {
		return nil, fmt.Errorf("vmtest: %w", err)
	}
	if err := writeControlFiles(ctl, k, o); err != nil {
		return nil, err
	}
	if o.ConsoleLog == "" {
		o.ConsoleLog = filepath.Join(o.ResultsDir, "console.log")
	}
	console, err := os.Create(o.ConsoleLog)
	if err != nil {
		return nil, fmt.Errorf("vmtest: console log: %w", err)
	}
	defer console.Close()

	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	args := qemuArgs(k, initrd, o)
	cmd := exec.CommandContext(ctx, o.QEMU, args...)
	cmd.Stdin = nil
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	log.Info("booting VM", "kernel", k.Version, "results", o.ResultsDir, "timeout", o.Timeout)

	res := &Result{ResultsDir: o.ResultsDir, ConsoleLog: o.ConsoleLog}
	tail := newTailBuffer(64 << 10)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		copyConsole(pr, io.MultiWriter(console, tail), o.Stdout, func() {
			res.BootTime = time.Since(start)
			log.Info("VM ready", "boot", res.BootTime.Round(time.Millisecond))
		})
	}()
	if err := cmd.Start(); err != nil {
		pw.Close()
		wg.Wait()
		return nil, fmt.Errorf("vmtest: starting %s: %w", o.QEMU, err)
	}
	waitErr := cmd.Wait()
	pw.Close()
	wg.Wait()
	res.Duration = time.Since(start)

	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return res, &BootError{
				Reason:  fmt.Sprintf("VM timed out after %v; qemu killed", o.Timeout.Round(time.Second)),
				Console: lastLines(tail.String(), consoleTailLines),
				Err:     ErrTimeout,
			}
		}
		return res, fmt.Errorf("vmtest: %w", ctx.Err())
	}
	if b, err := os.ReadFile(filepath.Join(ctl, "fatal")); err == nil {
		return res, &BootError{Reason: "VM setup failed: " + strings.TrimSpace(string(b)), Console: lastLines(tail.String(), consoleTailLines)}
	}
	code, err := os.ReadFile(filepath.Join(ctl, "exit"))
	if err != nil {
		reason := "VM stopped before the command finished (did not boot?)"
		if waitErr != nil {
			reason += ": qemu: " + waitErr.Error()
		}
		return res, &BootError{Reason: reason, Console: lastLines(tail.String(), consoleTailLines)}
	}
	if res.ExitCode, err = strconv.Atoi(strings.TrimSpace(string(code))); err != nil {
		return res, fmt.Errorf("vmtest: %s/exit: bad exit code %q", ctl, code)
	}
	res.Output, _ = os.ReadFile(filepath.Join(ctl, "output.log"))
	log.Info("VM finished", "exit", res.ExitCode, "duration", res.Duration.Round(time.Millisecond))
	return res, nil
}

// checkGuestPath rejects absolute paths the guest cannot see as the host
// does: /run, and /tmp unless hostTmp, are fresh tmpfs mounts inside the VM.
func checkGuestPath(field, p string, hostTmp bool) error {
	if p == "" || !filepath.IsAbs(p) {
		return nil
	}
	hidden := []string{"/run"}
	if !hostTmp {
		hidden = append(hidden, "/tmp")
	}
	for _, hidden := range hidden {
		if p == hidden || strings.HasPrefix(p, hidden+"/") {
			return fmt.Errorf("vmtest: %s %q is under %s, which the VM mounts a fresh tmpfs over", field, p, hidden)
		}
	}
	return nil
}

func qemuArgs(k *Kernel, initrd string, o Options) []string {
	return []string{
		"-accel", "tcg,thread=multi",
		"-cpu", "max",
		"-m", strconv.Itoa(o.MemoryMB),
		"-smp", strconv.Itoa(o.CPUs),
		"-display", "none", "-monitor", "none", "-serial", "stdio",
		"-no-reboot",
		"-nic", "none", // never any network to the outside
		"-kernel", k.Image,
		"-initrd", initrd,
		"-append", "console=ttyS0 quiet panic=-1 mitigations=off",
		"-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
		"-virtfs", "local,path=" + strings.ReplaceAll(o.ResultsDir, ",", ",,") + ",mount_tag=results,security_model=none,multidevs=remap",
	}
}

// writeControlFiles writes setup.env (read by stage 2) and job.sh.
func writeControlFiles(ctl string, k *Kernel, o Options) error {
	var setup bytes.Buffer
	fmt.Fprintf(&setup, "METRO_VM_KVER=%s\n", shellQuote(k.Version))
	fmt.Fprintf(&setup, "METRO_VM_MODULES_DIR=%s\n", shellQuote(k.ModulesDir))
	fmt.Fprintf(&setup, "METRO_VM_REQUIRED_MODULES=%s\n", shellQuote(strings.Join(append(append([]string{}, RequiredModules...), o.Modules...), " ")))
	fmt.Fprintf(&setup, "METRO_VM_OPTIONAL_MODULES=%s\n", shellQuote(strings.Join(OptionalModules, " ")))
	fmt.Fprintf(&setup, "METRO_VM_RESULTS=%s\n", shellQuote(o.ResultsDir))
	tmpfsTmp := "1"
	if o.HostTmp {
		tmpfsTmp = "0"
	}
	fmt.Fprintf(&setup, "METRO_VM_TMPFS_TMP=%s\n", tmpfsTmp)
	if err := os.WriteFile(filepath.Join(ctl, "setup.env"), setup.Bytes(), 0o644); err != nil {
		return fmt.Errorf("vmtest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(ctl, "job.sh"), jobScript(o), 0o755); err != nil {
		return fmt.Errorf("vmtest: %w", err)
	}
	return nil
}

// jobScript is the shell script stage 2 runs: environment, directory, command.
func jobScript(o Options) []byte {
	var b bytes.Buffer
	b.WriteString("# generated by metro/vmtest\n")
	b.WriteString("export METRO_VM=1\n")
	fmt.Fprintf(&b, "export METRO_VM_RESULTS=%s\n", shellQuote(o.ResultsDir))
	for _, kv := range o.Env {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v))
	}
	dir := o.Dir
	if dir == "" {
		dir = "/"
	}
	fmt.Fprintf(&b, "cd %s || exit 125\n", shellQuote(dir))
	quoted := make([]string, len(o.Command))
	for i, a := range o.Command {
		quoted[i] = shellQuote(a)
	}
	fmt.Fprintf(&b, "exec %s\n", strings.Join(quoted, " "))
	return b.Bytes()
}

// shellQuote quotes s for POSIX sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func validEnvName(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		if r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9' {
			continue
		}
		return false
	}
	return true
}

// copyConsole copies the serial console line by line to log and live,
// dropping carriage returns, and calls ready once on the ready marker.
func copyConsole(r io.Reader, log, live io.Writer, ready func()) {
	br := bufio.NewReader(r)
	seen := false
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.ReplaceAll(line, []byte("\r"), nil)
			log.Write(line)
			if live != nil {
				live.Write(line)
			}
			if !seen && bytes.HasPrefix(line, []byte(readyMarker)) {
				seen = true
				ready()
			}
		}
		if err != nil {
			return
		}
	}
}

// tailBuffer keeps the last max bytes written to it, cut at a line start.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
		if i := bytes.IndexByte(t.buf, '\n'); i >= 0 {
			t.buf = t.buf[i+1:]
		}
		t.buf = append([]byte(nil), t.buf...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// consoleTailLines is how much console a BootError carries.
const consoleTailLines = 60

// lastLines returns the last n lines of s, newline-terminated.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}
