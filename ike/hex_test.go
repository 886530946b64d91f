package ike

import (
	"fmt"
	"testing"
)

func TestHexSPIs(t *testing.T) {
	for _, v := range []uint64{0, 1, 0xdeadbeef, 0x0123456789abcdef, ^uint64(0)} {
		if got, want := hex64(v), fmt.Sprintf("%016x", v); got != want {
			t.Errorf("hex64(%#x) = %q, want %q", v, got, want)
		}
		if got, want := hex32(uint32(v)), fmt.Sprintf("%08x", uint32(v)); got != want {
			t.Errorf("hex32(%#x) = %q, want %q", uint32(v), got, want)
		}
	}
}
