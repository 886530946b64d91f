package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// goCmd runs the go tool in dir with CGO disabled, so every binary is static.
func goCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	out, err := goCmd(".", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

// pkgInfo is what go list says about a package.
type pkgInfo struct {
	ImportPath string
	Dir        string
	Name       string
	HasTests   bool
}

// listPackages lists the packages matching patterns; packages that do not
// exist or do not load are reported and left out.
func listPackages(root string, log *slog.Logger, patterns ...string) []pkgInfo {
	args := append([]string{"list", "-e", "-f",
		"{{.ImportPath}}\t{{.Dir}}\t{{.Name}}\t{{len .TestGoFiles}}\t{{len .XTestGoFiles}}\t{{if .Error}}{{.Error}}{{end}}"}, patterns...)
	var stderr bytes.Buffer
	cmd := goCmd(root, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		log.Warn("go list failed", "patterns", patterns, "err", err, "stderr", strings.TrimSpace(stderr.String()))
	}
	if s := strings.TrimSpace(stderr.String()); s != "" && err == nil {
		log.Warn("go list", "msg", s)
	}
	var pkgs []pkgInfo
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 6 {
			continue
		}
		if f[5] != "" {
			log.Warn("skipping package that does not load", "pkg", f[0], "err", f[5])
			continue
		}
		pkgs = append(pkgs, pkgInfo{ImportPath: f[0], Dir: f[1], Name: f[2], HasTests: f[3] != "0" || f[4] != "0"})
	}
	return pkgs
}

// buildCommands builds every main package under ./cmd into bin/ as static
// binaries. Packages that do not compile yet are reported, not fatal.
func buildCommands(root string, log *slog.Logger) (built []string) {
	bin := filepath.Join(root, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		log.Error("creating bin/", "err", err)
		return nil
	}
	for _, p := range listPackages(root, log, "./cmd/...") {
		if p.Name != "main" {
			continue
		}
		out, err := goCmd(root, "build", "-o", bin+"/", p.ImportPath).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "vm: warning: %s does not build; not in bin/:\n%s", p.ImportPath, out)
			continue
		}
		built = append(built, filepath.Base(p.ImportPath))
	}
	return built
}

// testBinary is a compiled test executable to run in the VM.
type testBinary struct {
	Pkg  string // import path
	Dir  string // package directory: the binary runs there so testdata/ resolves
	Path string // executable; empty when compilation failed
	Key  string // file-name-safe package name
}

// buildTests compiles `go test -c` binaries for the given packages into dir.
// A package that does not compile is returned with an empty Path.
func buildTests(root, dir string, patterns []string, log *slog.Logger) []testBinary {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Error("creating test binary dir", "err", err)
		return nil
	}
	var tbs []testBinary
	for _, p := range listPackages(root, log, patterns...) {
		if !p.HasTests {
			log.Info("no tests; skipped", "pkg", p.ImportPath)
			continue
		}
		tb := testBinary{Pkg: p.ImportPath, Dir: p.Dir, Key: strings.ReplaceAll(p.ImportPath, "/", "_")}
		out := filepath.Join(dir, tb.Key+".test")
		os.Remove(out)
		msg, err := goCmd(root, "test", "-c", "-o", out, p.ImportPath).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stdout, "vm: %s: test binary does not compile:\n%s", p.ImportPath, msg)
		} else {
			tb.Path = out
		}
		tbs = append(tbs, tb)
	}
	return tbs
}
