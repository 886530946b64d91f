package vmtest

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

func TestCPIORoundTrip(t *testing.T) {
	files := []initramfsFile{
		{name: "bin", perm: 0o755, dir: true},
		{name: "bin/busybox", perm: 0o755, body: []byte("ELF...")},
		{name: "bin/sh", link: "busybox"},
		{name: "init", perm: 0o700, body: []byte("#!/bin/sh\n")},
		{name: "e", perm: 0o644},                            // empty body
		{name: "abc", perm: 0o644, body: []byte("1234567")}, // odd sizes exercise padding
	}
	data, err := writeCPIO(files)
	if err != nil {
		t.Fatal(err)
	}
	if len(data)%4 != 0 {
		t.Errorf("archive length %d not a multiple of 4", len(data))
	}
	got := parseCPIO(t, data)
	if len(got) != len(files) {
		t.Fatalf("parsed %d entries, want %d", len(got), len(files))
	}
	for i, f := range files {
		g := got[i]
		if g.name != f.name {
			t.Errorf("entry %d: name %q, want %q", i, g.name, f.name)
		}
		var wantMode uint32
		wantBody := f.body
		switch {
		case f.dir:
			wantMode = cpioDir | uint32(f.perm)
		case f.link != "":
			wantMode = cpioSymlink | 0o777
			wantBody = []byte(f.link)
		default:
			wantMode = cpioRegular | uint32(f.perm)
		}
		if g.mode != wantMode {
			t.Errorf("%s: mode %o, want %o", f.name, g.mode, wantMode)
		}
		if !bytes.Equal(g.body, wantBody) {
			t.Errorf("%s: body %q, want %q", f.name, g.body, wantBody)
		}
	}

	// Cross-check with GNU cpio when it is installed.
	if _, err := exec.LookPath("cpio"); err == nil {
		cmd := exec.Command("cpio", "-t", "--quiet")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("cpio -t: %v", err)
		}
		want := "bin\nbin/busybox\nbin/sh\ninit\ne\nabc\n"
		if string(out) != want {
			t.Errorf("cpio -t listed %q, want %q", out, want)
		}
	}
}

func TestCPIORejectsAbsoluteNames(t *testing.T) {
	_, err := writeCPIO([]initramfsFile{{name: "/init", perm: 0o755}})
	if err == nil || !strings.Contains(err.Error(), "/init") {
		t.Fatalf("err = %v, want an error naming /init", err)
	}
}
