package vmtest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// moduleIndex is a kernel's modules.dep plus modules.builtin.
type moduleIndex struct {
	deps    map[string][]string // module file (relative) -> dependency files, as modules.dep lists them
	byName  map[string]string   // module name (dashes as underscores) -> module file
	builtin map[string]bool     // module names built into the kernel
}

// moduleName turns "kernel/net/9p/9pnet_virtio.ko" (or .ko.xz) into "9pnet_virtio".
func moduleName(file string) string {
	base := path.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// loadModuleIndex reads modules.dep and modules.builtin from dir
// (lib/modules/<version>).
func loadModuleIndex(dir string) (*moduleIndex, error) {
	idx := &moduleIndex{deps: map[string][]string{}, byName: map[string]string{}, builtin: map[string]bool{}}
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("vmtest: %w", err)
	}
	defer f.Close()
	if err := idx.parseDep(f, f.Name()); err != nil {
		return nil, err
	}
	if b, err := os.Open(filepath.Join(dir, "modules.builtin")); err == nil {
		defer b.Close()
		s := bufio.NewScanner(b)
		for s.Scan() {
			if line := strings.TrimSpace(s.Text()); line != "" {
				idx.builtin[moduleName(line)] = true
			}
		}
		if err := s.Err(); err != nil {
			return nil, fmt.Errorf("vmtest: reading %s: %w", b.Name(), err)
		}
	}
	return idx, nil
}

func (idx *moduleIndex) parseDep(r io.Reader, name string) error {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; s.Scan(); line++ {
		text := strings.TrimSpace(s.Text())
		if text == "" {
			continue
		}
		mod, rest, ok := strings.Cut(text, ":")
		if !ok {
			return fmt.Errorf("vmtest: %s:%d: missing ':' in %q", name, line, text)
		}
		idx.deps[mod] = strings.Fields(rest)
		idx.byName[moduleName(mod)] = mod
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("vmtest: reading %s: %w", name, err)
	}
	return nil
}

// loadOrder returns the module files to insmod, dependencies first, for the
// named modules. Built-in modules are skipped; unknown names are an error.
func (idx *moduleIndex) loadOrder(names ...string) ([]string, error) {
	var order []string
	seen := map[string]bool{}
	var visit func(file string, chain []string) error
	visit = func(file string, chain []string) error {
		if seen[file] {
			return nil
		}
		for _, c := range chain {
			if c == file {
				return fmt.Errorf("vmtest: module dependency cycle through %s", file)
			}
		}
		deps, ok := idx.deps[file]
		if !ok {
			return fmt.Errorf("vmtest: modules.dep names %s as a dependency but has no entry for it", file)
		}
		for _, d := range deps {
			if err := visit(d, append(chain, file)); err != nil {
				return err
			}
		}
		seen[file] = true
		order = append(order, file)
		return nil
	}
	for _, n := range names {
		n = strings.ReplaceAll(n, "-", "_")
		file, ok := idx.byName[n]
		if !ok {
			if idx.builtin[n] {
				continue
			}
			return nil, fmt.Errorf("vmtest: kernel has no module %q", n)
		}
		if err := visit(file, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}
