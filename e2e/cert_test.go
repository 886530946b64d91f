package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"metro/auth/testca"
)

// certPair sets up two hosts as certificate servers alpha and bravo, found
// by name through their namespaces' /etc/hosts, and starts metrod on both.
func certPair(t *testing.T, ca *testca.CA, kt testca.KeyType, extra ...string) (sa, sb *certServer, ma, mb *Metrod) {
	t.Helper()
	a, b := NewPair(t)
	sa, sb = &certServer{Host: a, Short: "alpha"}, &certServer{Host: b, Short: "bravo"}
	servers := []*certServer{sa, sb}
	writeCertCreds(t, ca, kt, servers)
	writeNetnsHosts(t, servers)
	ma, mb = startCertMetrod(t, sa, extra...), startCertMetrod(t, sb, extra...)
	return sa, sb, ma, mb
}

// TestMetrodCert: two metrods authenticate with ECDSA, RSA and Ed25519
// server certificates over IPv4 and IPv6; peers come from /etc/hosts.
func TestMetrodCert(t *testing.T) {
	for _, kt := range []testca.KeyType{testca.ECDSAP256, testca.RSA2048, testca.Ed25519} {
		t.Run(string(kt), func(t *testing.T) {
			ca := testca.NewRoot("metro e2e CA "+string(kt), kt)
			sa, sb, ma, mb := certPair(t, ca, kt)
			a, b := sa.Host, sb.Host
			sta := ma.WaitEstablished(t, 60*time.Second, b.V4, b.V6)
			stb := mb.WaitEstablished(t, 60*time.Second, a.V4, a.V6)
			checkCertPeer(t, sta, b.V4, sb)
			checkCertPeer(t, sta, b.V6, sb)
			checkCertPeer(t, stb, a.V4, sa)
			checkCertPeer(t, stb, a.V6, sa)
			a.MustPing(t, b.V4, 3)
			a.MustPing(t, b.V6, 3)
			if n := xfrmStates(t, a); n != 4 {
				t.Errorf("%s: %d ESP transport states, want 4", a.Name, n)
			}
			text := a.Run(t, Binary(t, "metroctl"), "--socket", ma.Socket, "status")
			if !strings.Contains(text, "bravo.metro.test") {
				t.Errorf("metroctl status lacks the peer's identity:\n%s", text)
			}
			if log := ma.Proc.Log(); !strings.Contains(log, "peer authenticated by certificate") || !strings.Contains(log, "(method 14)") {
				t.Errorf("metrod log lacks the certificate authentication:\n%s", lastLines(log, 40))
			}
		})
	}
}

// TestMetrodCertFragmented: a leaf and two intermediates with RSA-4096
// keys, a small fragment size: IKE_AUTH goes in fragments.
func TestMetrodCertFragmented(t *testing.T) {
	root := testca.NewRoot("metro e2e root", testca.RSA4096)
	inter := root.Intermediate("metro e2e intermediate 1", testca.RSA4096).Intermediate("metro e2e intermediate 2", testca.RSA4096)
	a, b := NewPair(t)
	sa, sb := &certServer{Host: a, Short: "alpha"}, &certServer{Host: b, Short: "bravo"}
	servers := []*certServer{sa, sb}
	for i, s := range servers {
		s.Leaf = inter.Issue(testca.LeafOptions{DNS: []string{s.FQDN()}, KeyType: testca.RSA4096, KeyIndex: i + 1})
	}
	writeCertCreds(t, root, testca.RSA4096, servers)
	writeNetnsHosts(t, servers)
	ma := startCertMetrod(t, sa, "--ike-fragment-size", "576")
	mb := startCertMetrod(t, sb, "--ike-fragment-size", "576")
	ma.WaitEstablished(t, 90*time.Second, b.V4, b.V6)
	st := mb.WaitEstablished(t, 90*time.Second, a.V4, a.V6)
	checkCertPeer(t, st, a.V6, sa)
	for _, m := range []*Metrod{ma, mb} {
		log := m.Proc.Log()
		if !strings.Contains(log, "message fragmented") || !strings.Contains(log, "message reassembled") {
			t.Errorf("%s: no fragmentation in the log:\n%s", m.Host.Name, lastLines(log, 40))
		}
	}
	a.MustPing(t, b.V4, 2)
}

// TestMetrodCertRejected: bravo presents a bad certificate; alpha rejects
// it with the reason in its log and answers AUTHENTICATION_FAILED.
func TestMetrodCertRejected(t *testing.T) {
	ca := testca.NewRoot("metro e2e CA", testca.ECDSAP256)
	wrongCA := testca.NewRootKey("metro e2e wrong CA", testca.ECDSAP256, 150)
	cases := []struct {
		name   string
		leaf   func() *testca.Leaf
		want   string
		bShort string // bravo's host runs under this name
	}{
		{"expired", func() *testca.Leaf {
			return ca.Issue(testca.LeafOptions{DNS: []string{"bravo." + certDomain}, KeyIndex: 2,
				NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
		}, "expired on", ""},
		{"not yet valid", func() *testca.Leaf {
			return ca.Issue(testca.LeafOptions{DNS: []string{"bravo." + certDomain}, KeyIndex: 2, NotBefore: time.Now().Add(48 * time.Hour)})
		}, "not yet valid", ""},
		{"wrong CA", func() *testca.Leaf {
			return wrongCA.Issue(testca.LeafOptions{DNS: []string{"bravo." + certDomain}, KeyIndex: 2})
		}, "does not chain to the CA", ""},
		{"wrong name", func() *testca.Leaf {
			return ca.Issue(testca.LeafOptions{DNS: []string{"charlie." + certDomain}, KeyIndex: 2})
		}, "charlie.metro.test is not a configured certificate server (expected one of alpha.metro.test, bravo.metro.test)", "charlie"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := NewPair(t)
			sa, sb := &certServer{Host: a, Short: "alpha"}, &certServer{Host: b, Short: "bravo"}
			servers := []*certServer{sa, sb}
			writeCertCreds(t, ca, testca.ECDSAP256, servers)
			writeNetnsHosts(t, servers)
			// bravo's own directory holds the bad certificate; alpha's has
			// none for bravo, so only what bravo sends counts.
			bad := c.leaf()
			bdir := filepath.Join(b.Dir, "creds")
			wantID := sb.FQDN()
			if c.bShort != "" {
				// Another server's name at bravo's address.
				os.Remove(filepath.Join(bdir, sb.FQDN()+".crt"))
				os.Remove(filepath.Join(bdir, sb.FQDN()+".key"))
				sb.Short = c.bShort
				testca.WriteFile(bdir, sb.FQDN()+".key", testca.KeyPEM(bad.Key))
				wantID = sb.FQDN()
			}
			testca.WriteFile(bdir, sb.FQDN()+".crt", bad.ChainPEM())
			if c.name == "wrong CA" {
				testca.WriteFile(bdir, "ca.crt", testca.CertPEM(wrongCA.Root()))
			}
			os.Remove(filepath.Join(a.Dir, "creds", "bravo."+certDomain+".crt"))
			a.WriteConfig(t, "METRO_CRT_SERVERS=alpha bravo")
			ma := startCertMetrod(t, sa)
			mb := startCertMetrod(t, sb)
			waitLog(t, ma.Proc, 60*time.Second, "authentication failed", c.want, "peer_id=fqdn:"+wantID, "subject=", "peer="+b.V4.String())
			waitLog(t, mb.Proc, 60*time.Second, "authentication failed")
			st, err := ma.Status(t)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range st.Peers {
				if p.State == "established" {
					t.Errorf("alpha established with %s despite the bad certificate", p.Remote)
				}
			}
		})
	}
}

// TestMetrodCertStartupErrors: broken credentials directories make
// metrod --check-config (and metrod) fail with a clear message.
func TestMetrodCertStartupErrors(t *testing.T) {
	ca := testca.NewRoot("metro e2e CA", testca.ECDSAP256)
	cases := []struct {
		name  string
		setup func(dir string, servers []*certServer)
		want  []string
	}{
		{"two domains", func(dir string, s []*certServer) {
			testca.WriteFile(dir, "delta.other.test.crt", s[1].Leaf.ChainPEM())
		}, []string{"2 different domains", "metro.test (alpha.metro.test.crt, bravo.metro.test.crt)", "other.test (delta.other.test.crt)"}},
		{"CA named like a server", func(dir string, _ []*certServer) {
			os.Rename(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "myca.metro.test.crt"))
		}, []string{"myca.metro.test.crt is a CA certificate", "METRO_CA_CERT="}},
		{"missing own key", func(dir string, _ []*certServer) {
			os.Remove(filepath.Join(dir, "alpha.metro.test.key"))
		}, []string{"alpha.metro.test.key", "no such file"}},
		{"key of another certificate", func(dir string, s []*certServer) {
			testca.WriteFile(dir, "alpha.metro.test.key", testca.KeyPEM(s[1].Leaf.Key))
		}, []string{"alpha.metro.test.key does not match the certificate"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, _ := NewPair(t)
			servers := []*certServer{{Host: a, Short: "alpha"}, {Short: "bravo"}}
			writeCertCreds(t, ca, testca.ECDSAP256, servers)
			dir := filepath.Join(a.Dir, "creds")
			c.setup(dir, servers)
			cfg := a.WriteConfig(t)
			out, err := a.TryRun(t, Binary(t, "metrod"), "--check-config", "--config", cfg, "--hostname", "alpha")
			if err == nil {
				t.Fatalf("metrod --check-config accepted the directory:\n%s", out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
