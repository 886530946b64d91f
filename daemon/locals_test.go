package daemon

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestRestrictLocals(t *testing.T) {
	have := addrs("10.0.0.1", "127.0.1.1", "127.0.1.2", "127.0.1.3")
	got, err := restrictLocals(have, addrs("127.0.1.3", "127.0.1.2", "127.0.1.3"))
	if err != nil {
		t.Fatal(err)
	}
	if want := addrs("127.0.1.2", "127.0.1.3"); !slices.Equal(got, want) {
		t.Errorf("restrictLocals = %v, want %v", got, want)
	}
	_, err = restrictLocals(have, addrs("127.0.1.9"))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("an address the host lacks: err = %v, want a ConfigError", err)
	}
}

func TestLocalAddrsNeedMemoryBackend(t *testing.T) {
	_, err := localAddrs(Options{Backend: "netlink", Locals: addrs("127.0.1.1")})
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("--local-addrs with netlink: err = %v, want a ConfigError", err)
	}
}
