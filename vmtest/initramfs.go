package vmtest

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

//go:embed init.sh
var initScript []byte

//go:embed stage2.sh
var stage2Script []byte

// bootModules are what stage 1 needs to reach the host root: the virtio PCI
// transport, 9p over virtio, and overlayfs.
var bootModules = []string{"virtio_pci", "9pnet_virtio", "9p", "overlay"}

// findBusybox returns a statically linked busybox: it runs in the
// initramfs, where there is no libc.
func findBusybox(p string) (string, error) {
	var candidates []string
	if p != "" {
		candidates = []string{p}
	} else {
		candidates = []string{"/bin/busybox", "/usr/bin/busybox"}
		if lp, err := exec.LookPath("busybox"); err == nil {
			candidates = append(candidates, lp)
		}
	}
	var lastErr error = fmt.Errorf("vmtest: busybox not found (install busybox-static)")
	for _, c := range candidates {
		if err := checkStatic(c); err != nil {
			lastErr = err
			continue
		}
		return c, nil
	}
	return "", lastErr
}

// checkStatic reports an error unless file is an ELF executable without a
// program interpreter.
func checkStatic(file string) error {
	f, err := elf.Open(file)
	if err != nil {
		return fmt.Errorf("vmtest: busybox %s: %w", file, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("vmtest: busybox %s is dynamically linked (install busybox-static)", file)
		}
	}
	return nil
}

// initramfsFiles is the content of an initramfs, in archive order.
type initramfsFile struct {
	name string // relative path
	perm os.FileMode
	dir  bool
	link string // symlink target
	body []byte
}

// initramfsContent assembles the initramfs for kernel k with the given
// busybox binary.
func initramfsContent(k *Kernel, busybox string) ([]initramfsFile, error) {
	modDir := filepath.Join(k.ModulesDir, k.Version)
	idx, err := loadModuleIndex(modDir)
	if err != nil {
		return nil, err
	}
	order, err := idx.loadOrder(bootModules...)
	if err != nil {
		return nil, fmt.Errorf("%w (kernel %s)", err, k.Version)
	}
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return nil, fmt.Errorf("vmtest: %w", err)
	}
	files := []initramfsFile{
		{name: "bin", perm: 0o755, dir: true},
		{name: "bin/busybox", perm: 0o755, body: bb},
		{name: "bin/sh", link: "busybox"},
		{name: "init", perm: 0o755, body: initScript},
		{name: "stage2", perm: 0o644, body: stage2Script},
		{name: "modules.order", perm: 0o644, body: []byte(strings.Join(order, "\n") + "\n")},
		{name: "modules", perm: 0o755, dir: true},
	}
	dirs := map[string]bool{"modules": true}
	for _, m := range order {
		if strings.HasSuffix(m, ".xz") || strings.HasSuffix(m, ".zst") || strings.HasSuffix(m, ".gz") {
			return nil, fmt.Errorf("vmtest: module %s is compressed; busybox insmod needs plain .ko files", m)
		}
		body, err := os.ReadFile(filepath.Join(modDir, m))
		if err != nil {
			return nil, fmt.Errorf("vmtest: %w", err)
		}
		name := path.Join("modules", m)
		var parents []string
		for d := path.Dir(name); !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			files = append(files, initramfsFile{name: d, perm: 0o755, dir: true})
		}
		files = append(files, initramfsFile{name: name, perm: 0o644, body: body})
	}
	return files, nil
}

// writeCPIO writes files as a newc archive.
func writeCPIO(files []initramfsFile) ([]byte, error) {
	var buf bytes.Buffer
	w := newCPIOWriter(&buf)
	for _, f := range files {
		var err error
		switch {
		case f.dir:
			err = w.Dir(f.name, f.perm)
		case f.link != "":
			err = w.Symlink(f.name, f.link)
		default:
			err = w.File(f.name, f.perm, f.body)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// contentKey hashes everything that goes into the archive.
func contentKey(k *Kernel, files []initramfsFile) string {
	h := sha256.New()
	fmt.Fprintf(h, "metro-vmtest initramfs v1\nkernel %s\n", k.Version)
	for _, f := range files {
		fmt.Fprintf(h, "%s %o %t %q %d\n", f.name, f.perm, f.dir, f.link, len(f.body))
		h.Write(f.body)
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// Initramfs returns the path of the initramfs for kernel k, building it
// into cacheDir/initramfs if no archive with the same content exists.
func Initramfs(cacheDir string, k *Kernel, busybox string) (string, error) {
	bb, err := findBusybox(busybox)
	if err != nil {
		return "", err
	}
	files, err := initramfsContent(k, bb)
	if err != nil {
		return "", err
	}
	key := contentKey(k, files)
	dir := filepath.Join(cacheDir, "initramfs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		// A read-only kernel cache still works: fall back to a per-user cache.
		uc, uerr := os.UserCacheDir()
		if uerr != nil {
			return "", fmt.Errorf("vmtest: initramfs cache: %w", err)
		}
		dir = filepath.Join(uc, "metro-vm", "initramfs")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("vmtest: initramfs cache: %w", err)
		}
	}
	out := filepath.Join(dir, key+".cpio")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	data, err := writeCPIO(files)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".initramfs-*")
	if err != nil {
		return "", fmt.Errorf("vmtest: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", fmt.Errorf("vmtest: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("vmtest: writing %s: %w", tmp.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("vmtest: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("vmtest: %w", err)
	}
	pruneInitramfs(dir, out)
	return out, nil
}

// pruneInitramfs removes archives other than keep that were last written
// over a day ago; younger ones may be in use by a concurrent run.
func pruneInitramfs(dir, keep string) {
	old, _ := filepath.Glob(filepath.Join(dir, "*.cpio"))
	for _, p := range old {
		if p == keep {
			continue
		}
		if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > 24*time.Hour {
			os.Remove(p)
		}
	}
}
