package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestVerifyUnit runs systemd-analyze verify on metrod.service. verify
// insists that ExecStart exists, so it checks a copy whose ExecStart
// points at a freshly built metrod.
func TestVerifyUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd)")
	}
	unit, err := os.ReadFile("metrod.service")
	if err != nil {
		t.Fatal(err)
	}
	execRE := regexp.MustCompile(`(?m)^ExecStart=(\S+)`)
	m := execRE.FindSubmatch(unit)
	if m == nil {
		t.Fatal("metrod.service has no ExecStart")
	}
	if string(m[1]) != "/usr/local/sbin/metrod" {
		t.Errorf("ExecStart=%s, but docs/install.md installs /usr/local/sbin/metrod", m[1])
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "metrod")
	build := goCommand(t, "build", "-o", bin, "metro/cmd/metrod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building metrod: %v\n%s", err, out)
	}
	copyUnit := execRE.ReplaceAll(unit, []byte("ExecStart="+bin))
	path := filepath.Join(dir, "metrod.service")
	if err := os.WriteFile(path, copyUnit, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", "--man=no", path)
	out, err := cmd.CombinedOutput()
	// Other units of the machine may draw warnings; only ours matter.
	var ours []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "metrod.service") {
			ours = append(ours, l)
		}
	}
	if err != nil || len(ours) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	t.Logf("systemd-analyze verify %s: ok", path)
}

func goCommand(t *testing.T, args ...string) *exec.Cmd {
	goBin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	cmd := exec.Command(goBin, args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd
}
