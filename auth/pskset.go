package auth

import (
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// PSKExt is the file name extension of pre-shared key files.
const PSKExt = ".psk"

// PSKSet is every pre-shared key file of the credentials directory.
type PSKSet struct {
	// Files in lexical order of their names. The order decides which key
	// is used when a pair of addresses appears together in several files:
	// see Lookup.
	Files []*PSKFile
}

// LoadPSKDir reads and parses every *.psk file of dir, in lexical order of
// the file names. Names starting with '.' are skipped, as a shell glob would
// (this also skips the "..data" entries of Kubernetes secret volumes);
// symbolic links are followed. Subdirectories are ignored.
//
// locals are this host's own addresses: an address that appears in more
// than one file draws a warning naming both files, unless it is a local
// address (the host itself is expected to be in every group it belongs to).
// A file readable or writable by group or others draws a warning too.
//
// A missing or unreadable dir, an unreadable file or a file that ParsePSK
// rejects is an error; it names the directory or the file (and line).
// Keys never appear in warnings or errors.
func LoadPSKDir(dir string, locals []netip.Addr) (*PSKSet, []string, error) {
	entries, err := os.ReadDir(dir) // sorted by file name
	if err != nil {
		return nil, nil, fmt.Errorf("reading pre-shared key directory %s: %w", dir, unwrapPath(err))
	}
	local := make(map[netip.Addr]bool, len(locals))
	for _, a := range locals {
		local[a.Unmap()] = true
	}

	set := &PSKSet{}
	var warnings []string
	firstFile := make(map[netip.Addr]string) // non-local address -> first file listing it
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, PSKExt) || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			warnings = append(warnings, fmt.Sprintf("%s: accessible by group or others (mode %04o); run chmod 600 %s", path, perm, path))
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
		}
		f, err := ParsePSK(path, data)
		clear(data)
		if err != nil {
			return nil, nil, err
		}
		for _, a := range f.Addrs {
			if local[a] {
				continue
			}
			if first, ok := firstFile[a]; ok {
				warnings = append(warnings, fmt.Sprintf("%s: address %s is also listed in %s; for each pair of addresses the first file in name order listing both supplies the key", path, a, first))
				continue
			}
			firstFile[a] = path
		}
		set.Files = append(set.Files, f)
	}
	return set, warnings, nil
}

// Lookup returns the file whose key authenticates local and remote to each
// other: the FIRST file, in lexical order of file names, that lists both
// addresses. Addresses are compared canonically (4-in-6 unmapped).
// It reports false if no file lists both or if local == remote.
func (s *PSKSet) Lookup(local, remote netip.Addr) (*PSKFile, bool) {
	local, remote = local.Unmap(), remote.Unmap()
	if s == nil || local == remote {
		return nil, false
	}
	for _, f := range s.Files {
		if f.Contains(local) && f.Contains(remote) {
			return f, true
		}
	}
	return nil, false
}

// unwrapPath drops the *fs.PathError wrapper, whose path the caller's
// message already names.
func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
