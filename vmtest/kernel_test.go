package vmtest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestVersionLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		less bool
	}{
		{"6.1.0-9-amd64", "6.1.0-57-amd64", true},
		{"6.1.0-57-amd64", "6.1.0-9-amd64", false},
		{"6.1.0-57-amd64", "6.1.0-57-amd64", false},
		{"6.1.0-57-amd64", "6.10.0-1-amd64", true},
	} {
		if got := versionLess(tc.a, tc.b); got != tc.less {
			t.Errorf("versionLess(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.less)
		}
	}
}

// fakeKernel lays out an extracted kernel the way vm-kernel.sh does.
func fakeKernel(t *testing.T, cache, version string, complete bool) {
	t.Helper()
	root := filepath.Join(cache, version)
	mods := filepath.Join(root, "lib", "modules", version)
	if err := os.MkdirAll(mods, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "boot"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		filepath.Join(root, "boot", "vmlinuz-"+version): "kernel",
		filepath.Join(mods, "modules.dep"):              testModulesDep,
	} {
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if complete {
		if err := os.WriteFile(filepath.Join(root, ".complete"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFindKernel(t *testing.T) {
	cache := t.TempDir()
	if _, err := FindKernel(cache); !errors.Is(err, ErrNoKernel) {
		t.Fatalf("empty cache: err = %v, want ErrNoKernel", err)
	}
	fakeKernel(t, cache, "6.1.0-9-amd64", true)
	fakeKernel(t, cache, "6.1.0-50-amd64", true)
	fakeKernel(t, cache, "6.1.0-60-amd64", false) // interrupted extraction
	k, err := FindKernel(cache)
	if err != nil {
		t.Fatal(err)
	}
	if k.Version != "6.1.0-50-amd64" {
		t.Errorf("newest complete kernel = %s, want 6.1.0-50-amd64", k.Version)
	}
	if want := filepath.Join(cache, "6.1.0-50-amd64", "boot", "vmlinuz-6.1.0-50-amd64"); k.Image != want {
		t.Errorf("Image = %s, want %s", k.Image, want)
	}
	if err := os.Symlink("6.1.0-9-amd64", filepath.Join(cache, "current")); err != nil {
		t.Fatal(err)
	}
	if k, err = FindKernel(cache); err != nil || k.Version != "6.1.0-9-amd64" {
		t.Errorf("with current symlink: %+v, %v; want 6.1.0-9-amd64", k, err)
	}
}
