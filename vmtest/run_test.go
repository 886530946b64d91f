package vmtest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestJobScript(t *testing.T) {
	dir := t.TempDir()
	res := t.TempDir()
	o := Options{
		Command:    []string{"sh", "-c", `printf '%s|%s|%s|%s|%s\n' "$METRO_VM" "$METRO_VM_RESULTS" "$TRICKY" "$(pwd)" "$1"; exit 7`, "zero", "it's $HOME"},
		Dir:        dir,
		Env:        []string{`TRICKY=a 'b' "c" $d \e`},
		ResultsDir: res,
	}
	out, err := exec.Command("sh", "-c", string(jobScript(o))).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("job exit: %v (output %q), want exit status 7", err, out)
	}
	want := "1|" + res + `|a 'b' "c" $d \e|` + dir + "|it's $HOME\n"
	if string(out) != want {
		t.Errorf("job output %q, want %q", out, want)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no command", Options{}, "Command is empty"},
		{"dir in tmp", Options{Command: []string{"true"}, Dir: "/tmp/x"}, "/tmp"},
		{"binary in run", Options{Command: []string{"/run/x.test"}}, "/run"},
		{"bad env", Options{Command: []string{"true"}, Env: []string{"1X=y"}}, "1X=y"},
		{"env without =", Options{Command: []string{"true"}, Env: []string{"FOO"}}, "FOO"},
	} {
		_, err := Run(t.Context(), tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestCopyConsole(t *testing.T) {
	in := "boot noise\r\nmetro-vm: ready (kernel x)\r\n=== RUN TestX\r\nmetro-vm: ready again\r\nno newline"
	var log, live bytes.Buffer
	calls := 0
	copyConsole(strings.NewReader(in), &log, &live, func() { calls++ })
	want := "boot noise\nmetro-vm: ready (kernel x)\n=== RUN TestX\nmetro-vm: ready again\nno newline"
	if log.String() != want || live.String() != want {
		t.Errorf("log %q live %q, want %q", log.String(), live.String(), want)
	}
	if calls != 1 {
		t.Errorf("ready called %d times, want 1", calls)
	}
}

func TestTailAndLastLines(t *testing.T) {
	tb := newTailBuffer(16)
	tb.Write([]byte("line1\nline2\nline3\nline4\n"))
	if got := tb.String(); got != "line3\nline4\n" {
		t.Errorf("tail = %q, want the last whole lines", got)
	}
	if got := lastLines("a\nb\nc\n", 2); got != "b\nc\n" {
		t.Errorf("lastLines = %q", got)
	}
	if got := lastLines("a\nb", 5); got != "a\nb\n" {
		t.Errorf("lastLines short = %q", got)
	}
	if got := lastLines("", 5); got != "" {
		t.Errorf("lastLines empty = %q", got)
	}
}

func TestShellQuote(t *testing.T) {
	for _, s := range []string{"", "plain", "it's", `"$x" \ ; rm -rf /`, "a\nb"} {
		out, err := exec.Command("sh", "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("shellQuote(%q) round trip = %q, %v", s, out, err)
		}
	}
}

func TestInitramfsCache(t *testing.T) {
	bb, err := findBusybox("")
	if err != nil {
		t.Skip(err)
	}
	cache := t.TempDir()
	fakeKernel(t, cache, "6.1.0-1-amd64", true)
	k, err := FindKernel(cache)
	if err != nil {
		t.Fatal(err)
	}
	// The boot modules must exist as files for the archive.
	dep := testModulesDep + "kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko\n"
	modDir := filepath.Join(k.ModulesDir, k.Version)
	if err := os.WriteFile(filepath.Join(modDir, "modules.dep"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(modDir, "modules.builtin"), []byte("kernel/fs/overlayfs/overlay.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(dep, "\n") {
		if m, _, ok := strings.Cut(line, ":"); ok {
			p := filepath.Join(modDir, m)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte("module "+m), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	p1, err := Initramfs(cache, k, bb)
	if err != nil {
		t.Fatal(err)
	}
	st1, _ := os.Stat(p1)
	p2, err := Initramfs(cache, k, bb)
	if err != nil || p2 != p1 {
		t.Fatalf("second build: %s, %v; want cached %s", p2, err, p1)
	}
	if st2, _ := os.Stat(p2); !st2.ModTime().Equal(st1.ModTime()) {
		t.Errorf("cached archive was rewritten")
	}
	data, err := os.ReadFile(p1)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]cpioEntry{}
	var order []string
	for _, e := range parseCPIO(t, data) {
		names[e.name] = e
		order = append(order, e.name)
	}
	for _, n := range []string{"init", "stage2", "bin/busybox", "modules/kernel/fs/9p/9p.ko", "modules/kernel/drivers/virtio/virtio_pci.ko"} {
		if _, ok := names[n]; !ok {
			t.Errorf("archive lacks %s (has %v)", n, order)
		}
	}
	if !bytes.Equal(names["init"].body, initScript) {
		t.Errorf("init differs from init.sh")
	}
	mo := string(names["modules.order"].body)
	if strings.Index(mo, "virtio.ko") > strings.Index(mo, "virtio_pci.ko") || strings.Index(mo, "9pnet.ko") > strings.Index(mo, "9p.ko") {
		t.Errorf("modules.order not dependencies first:\n%s", mo)
	}

	// Changing a module's content yields a new archive.
	if err := os.WriteFile(filepath.Join(modDir, "kernel/fs/9p/9p.ko"), []byte("rebuilt"), 0o644); err != nil {
		t.Fatal(err)
	}
	p3, err := Initramfs(cache, k, bb)
	if err != nil || p3 == p1 {
		t.Errorf("after module change: %s, %v; want a new archive", p3, err)
	}

	if err := checkStatic("/bin/sh"); err == nil {
		t.Logf("note: /bin/sh is static on this host")
	} else if !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("checkStatic(/bin/sh) = %v", err)
	}
}

func TestCheckGuestPath(t *testing.T) {
	for _, tc := range []struct {
		p       string
		hostTmp bool
		ok      bool
	}{
		{"/work/main", false, true},
		{"relative/tmp", false, true},
		{"/tmp", false, false},
		{"/tmp/x", false, false},
		{"/tmpfoo", false, true},
		{"/tmp/x", true, true},
		{"/run/x", true, false},
	} {
		if err := checkGuestPath("f", tc.p, tc.hostTmp); (err == nil) != tc.ok {
			t.Errorf("checkGuestPath(%q, hostTmp=%v) = %v, want ok=%v", tc.p, tc.hostTmp, err, tc.ok)
		}
	}
}
