package vmtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// DefaultCacheDir is where scripts/vm-kernel.sh puts kernels when
// METRO_VM_CACHE is not set.
const DefaultCacheDir = "/var/cache/metro-vm"

// CacheDir returns $METRO_VM_CACHE, or DefaultCacheDir.
func CacheDir() string {
	if d := os.Getenv("METRO_VM_CACHE"); d != "" {
		return d
	}
	return DefaultCacheDir
}

// Kernel is an extracted Debian kernel package.
type Kernel struct {
	Version    string // e.g. "6.1.0-57-amd64"
	Image      string // path of vmlinuz
	ModulesDir string // directory holding <Version>/modules.dep; bound onto the guest's /lib/modules
}

// ErrNoKernel is returned by FindKernel when the cache holds no kernel.
var ErrNoKernel = errors.New("vmtest: no kernel in cache (run scripts/vm-kernel.sh)")

// FindKernel locates the kernel scripts/vm-kernel.sh extracted into cache:
// the one the "current" symlink names, or else the newest complete one.
func FindKernel(cache string) (*Kernel, error) {
	if v, err := os.Readlink(filepath.Join(cache, "current")); err == nil {
		if k, err := kernelAt(cache, filepath.Base(v)); err == nil {
			return k, nil
		}
	}
	ents, err := os.ReadDir(cache)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("vmtest: reading kernel cache: %w", err)
	}
	var versions []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "6.") {
			if _, err := os.Stat(filepath.Join(cache, e.Name(), ".complete")); err == nil {
				versions = append(versions, e.Name())
			}
		}
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoKernel, cache)
	}
	sort.Slice(versions, func(i, j int) bool { return versionLess(versions[i], versions[j]) })
	return kernelAt(cache, versions[len(versions)-1])
}

func kernelAt(cache, version string) (*Kernel, error) {
	root := filepath.Join(cache, version)
	k := &Kernel{
		Version:    version,
		Image:      filepath.Join(root, "boot", "vmlinuz-"+version),
		ModulesDir: filepath.Join(root, "lib", "modules"),
	}
	if _, err := os.Stat(k.Image); err != nil {
		return nil, fmt.Errorf("vmtest: kernel %s: %w", version, err)
	}
	if _, err := os.Stat(filepath.Join(k.ModulesDir, version, "modules.dep")); err != nil {
		return nil, fmt.Errorf("vmtest: kernel %s has no modules.dep (depmod not run?): %w", version, err)
	}
	return k, nil
}

// versionLess compares Debian kernel versions like 6.1.0-9-amd64 and
// 6.1.0-57-amd64 numerically field by field.
func versionLess(a, b string) bool {
	fa := strings.FieldsFunc(a, func(r rune) bool { return r == '.' || r == '-' })
	fb := strings.FieldsFunc(b, func(r rune) bool { return r == '.' || r == '-' })
	for i := 0; i < len(fa) && i < len(fb); i++ {
		if fa[i] == fb[i] {
			continue
		}
		na, ea := strconv.Atoi(fa[i])
		nb, eb := strconv.Atoi(fb[i])
		if ea == nil && eb == nil {
			return na < nb
		}
		return fa[i] < fb[i]
	}
	return len(fa) < len(fb)
}
