package auth

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeFiles creates files (name -> contents) with mode 0600 in a new temp dir.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func fileNames(set *PSKSet) []string {
	var names []string
	for _, f := range set.Files {
		names = append(names, filepath.Base(f.Path))
	}
	return names
}

func TestLoadPSKDir(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"b.psk":         "10.0.0.1 10.0.0.3\nkey-b\n",
		"a.psk":         "10.0.0.1 10.0.0.2 2001:db8::1 2001:db8::2\nkey-a\n",
		"c.psk.bak":     "garbage",
		"notes.txt":     "garbage",
		".hidden.psk":   "garbage",
		"sub.psk/x.psk": "garbage", // a directory named *.psk is skipped
		"z.psk":         "2001:DB8::2 2001:db8::9\nkey-z\n",
	})
	locals := addrs("10.0.0.1", "2001:db8::1")
	set, warnings, err := LoadPSKDir(dir, locals)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fileNames(set), []string{"a.psk", "b.psk", "z.psk"}; !slices.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
	// 10.0.0.1 is local: in two files without warning. 2001:db8::2 is in a.psk and z.psk.
	if len(warnings) != 1 {
		t.Fatalf("warnings = %q, want one", warnings)
	}
	w := warnings[0]
	for _, s := range []string{"2001:db8::2", filepath.Join(dir, "a.psk"), filepath.Join(dir, "z.psk")} {
		if !strings.Contains(w, s) {
			t.Errorf("warning %q lacks %q", w, s)
		}
	}
	for _, w := range warnings {
		if strings.Contains(w, "key-") {
			t.Errorf("warning discloses a key: %q", w)
		}
	}
}

func TestLoadPSKDirLookupFirstFileWins(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"10-site.psk": "10.0.0.1 10.0.0.2 10.0.0.3\nkey-site\n",
		"20-pair.psk": "10.0.0.1 10.0.0.2\nkey-pair\n",
		"30-v6.psk":   "2001:db8::1 2001:DB8::2 ::ffff:10.0.0.4 10.0.0.1\nkey-v6\n",
	})
	set, warnings, err := LoadPSKDir(dir, addrs("10.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "10.0.0.2") {
		t.Errorf("warnings = %q, want one about 10.0.0.2", warnings)
	}
	tests := []struct {
		local, remote string
		key           string // "" = not found
	}{
		{"10.0.0.1", "10.0.0.2", "key-site"}, // in 10-site and 20-pair: first wins
		{"10.0.0.2", "10.0.0.1", "key-site"},
		{"10.0.0.1", "10.0.0.3", "key-site"},
		{"10.0.0.1", "10.0.0.4", "key-v6"},
		{"::ffff:10.0.0.1", "::ffff:10.0.0.4", "key-v6"},
		{"2001:db8::1", "2001:db8:0::2", "key-v6"},
		{"10.0.0.2", "10.0.0.4", ""},
		{"10.0.0.1", "10.0.0.1", ""},
		{"10.0.0.1", "10.0.0.9", ""},
	}
	for _, tt := range tests {
		f, ok := set.Lookup(netip.MustParseAddr(tt.local), netip.MustParseAddr(tt.remote))
		switch {
		case tt.key == "" && ok:
			t.Errorf("Lookup(%s, %s) = %s, want none", tt.local, tt.remote, f.Path)
		case tt.key != "" && !ok:
			t.Errorf("Lookup(%s, %s) found nothing, want %s", tt.local, tt.remote, tt.key)
		case ok && string(f.Key) != tt.key:
			t.Errorf("Lookup(%s, %s) = %s, want key %s", tt.local, tt.remote, f.Path, tt.key)
		}
	}
	var nilSet *PSKSet
	if _, ok := nilSet.Lookup(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")); ok {
		t.Error("nil set found a key")
	}
}

func TestLoadPSKDirPermissions(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.psk": "10.0.0.1 10.0.0.2\nk\n", "b.psk": "10.0.0.1 10.0.0.3\nk\n"})
	if err := os.Chmod(filepath.Join(dir, "b.psk"), 0o640); err != nil {
		t.Fatal(err)
	}
	_, warnings, err := LoadPSKDir(dir, addrs("10.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], filepath.Join(dir, "b.psk")) || !strings.Contains(warnings[0], "chmod 600") {
		t.Errorf("warnings = %q, want one chmod 600 warning for b.psk", warnings)
	}
}

func TestLoadPSKDirSymlink(t *testing.T) {
	dir := writeFiles(t, map[string]string{"..data/a.psk": "10.0.0.1 10.0.0.2\nk\n"})
	if err := os.Symlink("..data/a.psk", filepath.Join(dir, "a.psk")); err != nil {
		t.Fatal(err)
	}
	set, _, err := LoadPSKDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileNames(set); !slices.Equal(got, []string{"a.psk"}) {
		t.Errorf("files = %v", got)
	}
}

func TestLoadPSKDirErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.psk": "10.0.0.1 10.0.0.2\nk\n",
		"b.psk": "# comment\n10.0.0.1 10.0.0.2\nk\nsecond key\n",
	})
	_, _, err := LoadPSKDir(dir, nil)
	if err == nil || !strings.HasPrefix(err.Error(), filepath.Join(dir, "b.psk")+":4:") {
		t.Errorf("bad file: err = %v, want it to start with %s:4:", err, filepath.Join(dir, "b.psk"))
	}

	missing := filepath.Join(t.TempDir(), "nope")
	_, _, err = LoadPSKDir(missing, nil)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing dir: err = %v, want it to name %s", err, missing)
	}

	dir = writeFiles(t, nil)
	if err := os.Symlink("nowhere.psk", filepath.Join(dir, "dangling.psk")); err != nil {
		t.Fatal(err)
	}
	_, _, err = LoadPSKDir(dir, nil)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "dangling.psk")) {
		t.Errorf("dangling link: err = %v", err)
	}

	if os.Geteuid() != 0 { // root reads anything
		dir = writeFiles(t, map[string]string{"a.psk": "10.0.0.1\nk\n"})
		if err := os.Chmod(filepath.Join(dir, "a.psk"), 0); err != nil {
			t.Fatal(err)
		}
		_, _, err = LoadPSKDir(dir, nil)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "a.psk")) {
			t.Errorf("unreadable file: err = %v", err)
		}
	}
}

func TestLoadPSKDirEmpty(t *testing.T) {
	set, warnings, err := LoadPSKDir(t.TempDir(), nil)
	if err != nil || len(set.Files) != 0 || len(warnings) != 0 {
		t.Errorf("empty dir: %v %q %v", set, warnings, err)
	}
}
