package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// InVM reports whether the process runs inside the metro VM test bed.
func InVM() bool { return os.Getenv("METRO_VM") == "1" }

// RequireVM skips the test unless it runs inside the VM test bed as root.
func RequireVM(t testing.TB) {
	t.Helper()
	if !InVM() {
		t.Skip("scenario test: needs the metro VM test bed (METRO_VM=1); run `make vmtest`")
	}
	if os.Geteuid() != 0 {
		t.Fatal("METRO_VM=1 but not running as root")
	}
}

// OutDir returns a directory for the test's artifacts. Inside the VM it is
// $METRO_VM_RESULTS/artifacts/<test name>, which survives the VM; elsewhere
// it is a temporary directory removed after the test.
func OutDir(t testing.TB) string {
	t.Helper()
	res := os.Getenv("METRO_VM_RESULTS")
	if res == "" {
		return t.TempDir()
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, t.Name())
	dir := filepath.Join(res, "artifacts", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("e2e: artifacts dir: %v", err)
	}
	return dir
}

// Binary returns the path of a project binary built into bin/ at the module
// root (`make build`), failing the test when it is missing.
func Binary(t testing.TB, name string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	p := filepath.Join(root, "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("e2e: binary %s not built (run `make build`): %v", name, err)
	}
	return p
}

// moduleRoot finds the directory holding go.mod, from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
