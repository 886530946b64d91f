package vmtest

import (
	"strconv"
	"testing"
)

// cpioEntry is one parsed newc entry.
type cpioEntry struct {
	name string
	mode uint32
	body []byte
}

// parseCPIO is an independent newc reader used to check the writer.
func parseCPIO(t *testing.T, data []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off+110 > len(data) {
			t.Fatalf("cpio: truncated header at offset %d", off)
		}
		hdr := data[off : off+110]
		if string(hdr[:6]) != "070701" {
			t.Fatalf("cpio: bad magic %q at offset %d", hdr[:6], off)
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("cpio: field %d at offset %d: %v", i, off, err)
			}
			return int(v)
		}
		mode, size, namesize := field(1), field(6), field(11)
		nameStart := off + 110
		name := data[nameStart : nameStart+namesize]
		if name[len(name)-1] != 0 {
			t.Fatalf("cpio: name at offset %d not NUL-terminated", nameStart)
		}
		bodyStart := align(nameStart + namesize)
		body := data[bodyStart : bodyStart+size]
		off = align(bodyStart + size)
		e := cpioEntry{name: string(name[:len(name)-1]), mode: uint32(mode), body: body}
		if e.name == "TRAILER!!!" {
			if off != len(data) {
				t.Fatalf("cpio: %d bytes after trailer", len(data)-off)
			}
			return out
		}
		out = append(out, e)
	}
}
