package policy

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"metro/auth"
	"metro/auth/testca"
)

type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func certSet(t *testing.T) *auth.CertSet {
	ca := testca.NewRoot("CA", testca.ECDSAP256)
	dir := t.TempDir()
	testca.WriteFile(dir, "ca.crt", testca.CertPEM(ca.Root()))
	for i, n := range []string{"a.ex.net", "b.ex.net", "c.ex.net", "d.ex.net"} {
		ca.Issue(testca.LeafOptions{DNS: []string{n}, KeyIndex: i + 1}).WriteServer(dir, n)
	}
	s, _, err := auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "a"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCertPeers(t *testing.T) {
	set := certSet(t)
	ip := netip.MustParseAddr
	r := fakeResolver{
		"a.ex.net": {ip("10.0.0.1"), ip("fd00::1")},
		"b.ex.net": {ip("10.0.0.2"), ip("fd00::2")},
		"c.ex.net": {ip("::ffff:10.0.0.3")},
		// d does not resolve
	}
	res := ResolveServers(context.Background(), r, set)
	if _, ok := res.Failures["d.ex.net"]; !ok || len(res.Failures) != 1 {
		t.Fatalf("failures %v", res.Failures)
	}
	locals := []netip.Addr{ip("10.0.0.1"), ip("fd00::1"), ip("192.168.1.1")}
	peers := CertPeers(locals, set, res, nil)
	var got []string
	for _, p := range peers {
		got = append(got, p.Local.String()+">"+p.Remote.String()+"="+strings.Join(p.Cert.Names, ","))
	}
	want := "10.0.0.1>10.0.0.2=b.ex.net 10.0.0.1>10.0.0.3=c.ex.net fd00::1>fd00::2=b.ex.net"
	if strings.Join(got, " ") != want {
		t.Errorf("peers\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	// Our own name does not resolve: the route gives the local address.
	delete(res.Addrs, "a.ex.net")
	peers = CertPeers(locals, set, res, func(netip.Addr) (netip.Addr, bool) { return ip("192.168.1.1"), true })
	if len(peers) != 3 || peers[0].Local != ip("192.168.1.1") {
		t.Errorf("peers by route: %+v", peers)
	}

	psk := []Peer{{Local: ip("10.0.0.1"), Remote: ip("10.0.0.3"), PSK: &auth.PSKFile{Path: "/etc/metro/x.psk"}}}
	_, err := MergePeers(psk, CertPeers(locals, set, ResolveServers(context.Background(), r, set), nil))
	if err == nil || !strings.Contains(err.Error(), "address 10.0.0.3 is a pre-shared key peer (/etc/metro/x.psk) and a certificate peer (c.ex.net)") {
		t.Errorf("conflict: %v", err)
	}
	psk[0].Remote = ip("10.0.0.9")
	all, err := MergePeers(psk, peers)
	if err != nil || len(all) != 4 || all[len(all)-1].Remote != ip("fd00::2") {
		t.Errorf("merge: %v %+v", err, all)
	}
}
