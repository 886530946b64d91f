package e2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"metro/auth/testca"
	"metro/control"
)

// certDomain is the domain of the certificate scenarios.
const certDomain = "metro.test"

// certServer is a host taking part in certificate authentication under
// a short name.
type certServer struct {
	Host  *Host
	Short string
	Leaf  *testca.Leaf
}

func (s certServer) FQDN() string { return s.Short + "." + certDomain }

// writeCertCreds gives every server a credentials directory (the host's
// creds/) holding the CA, every server's certificate (leaf and
// intermediates) and its own key. Servers whose Leaf is nil get one issued
// by ca with key type kt.
func writeCertCreds(t *testing.T, ca *testca.CA, kt testca.KeyType, servers []*certServer) {
	t.Helper()
	for i, s := range servers {
		if s.Leaf == nil {
			s.Leaf = ca.Issue(testca.LeafOptions{DNS: []string{s.FQDN()}, KeyType: kt, KeyIndex: i + 1})
		}
	}
	for _, s := range servers {
		if s.Host == nil {
			continue
		}
		dir := filepath.Join(s.Host.Dir, "creds")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		testca.WriteFile(dir, "ca.crt", testca.CertPEM(ca.Root()))
		for _, o := range servers {
			testca.WriteFile(dir, o.FQDN()+".crt", o.Leaf.ChainPEM())
		}
		testca.WriteFile(dir, s.FQDN()+".key", testca.KeyPEM(s.Leaf.Key))
	}
}

// writeNetnsHosts writes /etc/netns/<ns>/hosts for every host, naming every
// server's addresses: `ip netns exec` bind-mounts it over /etc/hosts, so
// metrod finds its peers by name.
func writeNetnsHosts(t *testing.T, servers []*certServer) {
	t.Helper()
	var b strings.Builder
	b.WriteString("127.0.0.1 localhost\n::1 localhost\n")
	for _, s := range servers {
		if s.Host == nil {
			continue
		}
		for _, a := range []netip.Addr{s.Host.V4, s.Host.V6} {
			if a.IsValid() {
				b.WriteString(a.String() + " " + s.FQDN() + "\n")
			}
		}
	}
	for _, s := range servers {
		if s.Host == nil {
			continue
		}
		dir := filepath.Join("/etc/netns", s.Host.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// startCertMetrod starts metrod on the server's host under its short name.
func startCertMetrod(t *testing.T, s *certServer, extra ...string) *Metrod {
	t.Helper()
	if _, err := os.Stat(filepath.Join(s.Host.Dir, "config.env")); err != nil {
		s.Host.WriteConfig(t)
	}
	return s.Host.StartMetrodArgs(t, append([]string{"--hostname", s.Short}, extra...)...)
}

// checkCertPeer asserts metrod's status of the peer at remote: established
// by certificate, with the peer's identity, subject and expiry.
func checkCertPeer(t *testing.T, st *control.Status, remote netip.Addr, peer *certServer) {
	t.Helper()
	p := peerOf(st, remote)
	if p == nil {
		t.Fatalf("no peer %s in status %+v", remote, st.Peers)
	}
	if p.Auth != control.AuthCert || p.PeerID != peer.FQDN() || !strings.Contains(p.CertSubject, "CN="+peer.FQDN()) ||
		!p.CertExpiry.Equal(peer.Leaf.Cert.NotAfter.Truncate(time.Second)) && !p.CertExpiry.Equal(peer.Leaf.Cert.NotAfter) {
		t.Errorf("peer %s: auth %q id %q subject %q expiry %v; want cert %s (expiry %v)", remote, p.Auth, p.PeerID, p.CertSubject,
			p.CertExpiry, peer.FQDN(), peer.Leaf.Cert.NotAfter)
	}
}

// waitLog waits until the process log contains every string.
func waitLog(t *testing.T, p *Proc, timeout time.Duration, want ...string) {
	t.Helper()
	WaitFor(t, timeout, "log lines "+strings.Join(want, ", "), func() bool {
		log := p.Log()
		for _, w := range want {
			if !strings.Contains(log, w) {
				return false
			}
		}
		return true
	})
}
