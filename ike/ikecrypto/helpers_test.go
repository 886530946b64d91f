package ikecrypto

import (
	"encoding/hex"
	"strings"
	"testing"
)

// unhex decodes hex, ignoring spaces and newlines so vectors can be pasted
// in the layout of their source.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex in test vector: %v", err)
	}
	return b
}

func repeat(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}
