package ike

import (
	"context"
	"crypto/x509"
	mrand "math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"metro/auth"
	"metro/auth/testca"
	"metro/ike/wire"
	"metro/xfrm"
)

// certHosts maps the test hosts' addresses to server names.
var certNames = map[string]string{
	"10.0.0.1": "a.example.com", "10.0.0.2": "b.example.com",
	"fd00::1": "a.example.com", "fd00::2": "b.example.com",
}

// certCreds writes a credentials directory for host (a full name) with
// the CA, every server's certificate and host's key, and loads it.
func certCreds(t *testing.T, ca *testca.CA, host string, leaves map[string]*testca.Leaf) *auth.CertSet {
	t.Helper()
	dir := t.TempDir()
	testca.WriteFile(dir, "ca.crt", testca.CertPEM(ca.Root()))
	for name, l := range leaves {
		testca.WriteFile(dir, name+".crt", l.ChainPEM())
	}
	testca.WriteFile(dir, host+".key", testca.KeyPEM(leaves[host].Key))
	s, notes, err := auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: host})
	if err != nil {
		t.Fatal(err, notes)
	}
	return s
}

// connectCert configures a and b as certificate peers of each other.
func connectCert(t *testing.T, ctx context.Context, a, b *testHost, credsA, credsB *auth.CertSet, namesA, namesB []string) {
	t.Helper()
	defer a.node.cfg.Transport.(*memNet).hold()()
	if err := a.node.AddPeer(ctx, PeerConfig{Local: a.addr, Remote: b.addr, Reqid: xfrm.ReqidBase + 1,
		Cert: &CertPeer{Creds: credsA, Names: namesB}}); err != nil {
		t.Fatal(err)
	}
	if err := b.node.AddPeer(ctx, PeerConfig{Local: b.addr, Remote: a.addr, Reqid: xfrm.ReqidBase + 7,
		Cert: &CertPeer{Creds: credsB, Names: namesA}}); err != nil {
		t.Fatal(err)
	}
}

func TestCertAuth(t *testing.T) {
	cases := []struct {
		kt   testca.KeyType
		pair [2]string
	}{
		{testca.ECDSAP256, [2]string{"10.0.0.1", "10.0.0.2"}},
		{testca.ECDSAP384, [2]string{"fd00::1", "fd00::2"}},
		{testca.RSA2048, [2]string{"10.0.0.1", "10.0.0.2"}},
		{testca.RSA2048, [2]string{"fd00::1", "fd00::2"}},
		{testca.Ed25519, [2]string{"fd00::1", "fd00::2"}},
		{testca.Ed25519, [2]string{"10.0.0.1", "10.0.0.2"}},
	}
	for _, c := range cases {
		t.Run(string(c.kt)+"/"+c.pair[0], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				ca := testca.NewRoot("Test CA", c.kt)
				leaves := map[string]*testca.Leaf{
					"a.example.com": ca.Issue(testca.LeafOptions{DNS: []string{"a.example.com"}, KeyType: c.kt, KeyIndex: 1}),
					"b.example.com": ca.Issue(testca.LeafOptions{DNS: []string{"B.example.com"}, KeyType: c.kt, KeyIndex: 2}),
				}
				net := &memNet{}
				a := newHost(t, net, c.pair[0], Config{})
				b := newHost(t, net, c.pair[1], Config{})
				connectCert(t, ctx, a, b, certCreds(t, ca, "a.example.com", leaves), certCreds(t, ca, "b.example.com", leaves),
					[]string{"a.example.com"}, []string{"b.example.com"})
				pa := waitState(t, a, StateEstablished)
				pb := waitState(t, b, StateEstablished)
				checkPaired(t, a, b)
				if pa.Auth != "cert" || pa.PeerID != "b.example.com" || pb.PeerID != "a.example.com" {
					t.Errorf("status: auth %q, peer IDs %q / %q", pa.Auth, pa.PeerID, pb.PeerID)
				}
				if !strings.Contains(pa.CertSubject, "CN=B.example.com") || !pa.CertExpiry.Equal(leaves["b.example.com"].Cert.NotAfter) {
					t.Errorf("status: subject %q expiry %v", pa.CertSubject, pa.CertExpiry)
				}
				// Both sides used RFC 7427 Digital Signatures.
				if log := a.log(); !strings.Contains(log, "(method 14)") {
					t.Errorf("no Digital Signature AUTH in the log:\n%s", log)
				}
				finish(cancel, a, b)
			})
		})
	}
}

// TestCertAuthRejected presents bad certificates from b: a rejects each
// with the logged reason and the presented certificate.
func TestCertAuthRejected(t *testing.T) {
	wrongCA := testca.NewRootKey("Wrong CA", testca.ECDSAP256, 103)
	cases := []struct {
		name  string
		leaf  func(ca *testca.CA) *testca.Leaf
		names []string // b's names in a's configuration
		want  string
	}{
		{"expired", func(ca *testca.CA) *testca.Leaf {
			return ca.Issue(testca.LeafOptions{DNS: []string{"b.example.com"}, KeyIndex: 2,
				NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
		}, nil, "expired on"},
		{"not yet valid", func(ca *testca.CA) *testca.Leaf {
			return ca.Issue(testca.LeafOptions{DNS: []string{"b.example.com"}, KeyIndex: 2, NotBefore: time.Now().Add(24 * time.Hour)})
		}, nil, "not yet valid"},
		{"wrong CA", func(*testca.CA) *testca.Leaf {
			return wrongCA.Issue(testca.LeafOptions{DNS: []string{"b.example.com"}, KeyIndex: 2})
		}, nil, `issuer \"CN=Wrong CA,O=metro test\" does not chain to the CA`},
		{"wrong name", func(ca *testca.CA) *testca.Leaf {
			return ca.Issue(testca.LeafOptions{DNS: []string{"x.example.com"}, KeyIndex: 2})
		}, nil, "expected DNS subjectAltName b.example.com"},
		{"address of another server", func(ca *testca.CA) *testca.Leaf {
			return ca.Issue(testca.LeafOptions{DNS: []string{"b.example.com"}, KeyIndex: 2})
		}, []string{"c.example.com"}, "belongs to c.example.com in DNS"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				ca := testca.NewRoot("Test CA", testca.ECDSAP256)
				leaves := map[string]*testca.Leaf{
					"a.example.com": ca.Issue(testca.LeafOptions{DNS: []string{"a.example.com"}, KeyIndex: 1}),
					"b.example.com": ca.Issue(testca.LeafOptions{DNS: []string{"b.example.com"}, KeyIndex: 2}),
					"c.example.com": ca.Issue(testca.LeafOptions{DNS: []string{"c.example.com"}, KeyIndex: 3}),
				}
				credsA := certCreds(t, ca, "a.example.com", leaves)
				delete(credsA.Certs, "b.example.com") // only what b sends counts
				credsB := certCreds(t, ca, "b.example.com", leaves)
				bad := c.leaf(ca)
				credsB.Local.Chain = append([]*x509.Certificate{bad.Cert}, bad.Chain...)
				names := c.names
				if names == nil {
					names = []string{"b.example.com"}
				}
				net := &memNet{}
				a := newHost(t, net, "10.0.0.1", Config{RetryMin: time.Hour})
				b := newHost(t, net, "10.0.0.2", Config{RetryMin: time.Hour})
				connectCert(t, ctx, a, b, credsA, credsB, []string{"a.example.com"}, names)
				waitState(t, a, StateFailed)
				time.Sleep(10 * time.Second)
				synctest.Wait()
				log := a.log()
				if !strings.Contains(log, "authentication failed") || !strings.Contains(log, c.want) ||
					!strings.Contains(log, "peer_id=fqdn:b.example.com") || !strings.Contains(log, "subject=") || !strings.Contains(log, "peer=10.0.0.2") {
					t.Errorf("a's log lacks the rejection with %q:\n%s", c.want, log)
				}
				if ps := b.node.Peers(); ps[0].State == StateEstablished {
					t.Errorf("b is established with a peer that rejected it")
				}
				if !strings.Contains(b.log(), "AUTHENTICATION_FAILED") && !strings.Contains(b.log(), "authentication failed") {
					t.Errorf("b was not told AUTHENTICATION_FAILED:\n%s", b.log())
				}
				if as, _ := a.kernel.SAs(); len(as) != 0 {
					t.Errorf("a installed %d states after rejecting the peer", len(as))
				}
				finish(cancel, a, b)
			})
		})
	}
}

// TestCertAuthFragmented authenticates with a chain of a leaf and two
// intermediates over a small fragment size: IKE_AUTH goes in fragments,
// some of which are lost the first time, and arrive out of order.
func TestCertAuthFragmented(t *testing.T) {
	kt, size := testca.RSA4096, 576
	if testing.Short() {
		kt, size = testca.RSA2048, 400 // RSA-4096 keys take seconds to generate
	}
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		root := testca.NewRoot("Root CA", kt)
		i2 := root.Intermediate("Intermediate 1", kt).Intermediate("Intermediate 2", kt)
		leaves := map[string]*testca.Leaf{
			"a.example.com": i2.Issue(testca.LeafOptions{DNS: []string{"a.example.com"}, KeyType: kt, KeyIndex: 1}),
			"b.example.com": i2.Issue(testca.LeafOptions{DNS: []string{"b.example.com"}, KeyType: kt, KeyIndex: 2}),
		}
		net := &memNet{}
		dropped := map[string]bool{}
		net.drop = func(b []byte, from, to netip.AddrPort) bool {
			m, err := wire.ParseMessage(b)
			if err != nil || len(m.Payloads) == 0 {
				return false
			}
			f, ok := m.Payloads[len(m.Payloads)-1].(*wire.EncryptedFragment)
			if !ok || f.Number != 2 {
				return false
			}
			k := from.String() + m.Header.Exchange.String()
			if dropped[k] {
				return false
			}
			dropped[k] = true // each side's second fragment is lost once
			return true
		}
		net.delay = func() time.Duration { return time.Duration(mrand.IntN(50)) * time.Millisecond }
		a := newHost(t, net, "10.0.0.1", Config{FragmentSize: size})
		b := newHost(t, net, "10.0.0.2", Config{FragmentSize: size})
		connectCert(t, ctx, a, b, certCreds(t, root, "a.example.com", leaves), certCreds(t, root, "b.example.com", leaves),
			[]string{"a.example.com"}, []string{"b.example.com"})
		waitState(t, a, StateEstablished)
		waitState(t, b, StateEstablished)
		checkPaired(t, a, b)
		frags := 0
		for _, m := range net.messages() {
			if len(m.b) > size {
				t.Errorf("datagram of %d bytes from %s, above the fragment size %d", len(m.b), m.from, size)
			}
			if pm, err := wire.ParseMessage(m.b); err == nil && pm.Header.NextPayload == wire.PayloadSKF {
				frags++
			}
		}
		if frags < 6 {
			t.Errorf("%d fragments sent; IKE_AUTH of a three-certificate chain should need more", frags)
		}
		if len(dropped) == 0 {
			t.Errorf("no fragment was lost: the retransmission path is untested")
		}
		finish(cancel, a, b)
	})
}

// TestCertAuthSurvivesIKERekey: after the IKE SA is rekeyed the status
// still shows the peer's certificate, and fragmentation stays on.
func TestCertAuthSurvivesIKERekey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ca := testca.NewRoot("Test CA", testca.ECDSAP256)
		leaves := map[string]*testca.Leaf{
			"a.example.com": ca.Issue(testca.LeafOptions{DNS: []string{"a.example.com"}, KeyIndex: 1}),
			"b.example.com": ca.Issue(testca.LeafOptions{DNS: []string{"b.example.com"}, KeyIndex: 2}),
		}
		net := &memNet{}
		cfg := Config{IKELifetime: 10 * time.Minute}
		a := newHost(t, net, "10.0.0.1", cfg)
		b := newHost(t, net, "10.0.0.2", cfg)
		connectCert(t, ctx, a, b, certCreds(t, ca, "a.example.com", leaves), certCreds(t, ca, "b.example.com", leaves),
			[]string{"a.example.com"}, []string{"b.example.com"})
		first := waitState(t, a, StateEstablished)
		time.Sleep(15 * time.Minute)
		synctest.Wait()
		now := waitState(t, a, StateEstablished)
		if now.IKE == nil || now.IKE.SPIi == first.IKE.SPIi {
			t.Fatalf("IKE SA not rekeyed: %+v -> %+v", first.IKE, now.IKE)
		}
		if now.PeerID != "b.example.com" || now.CertSubject == "" {
			t.Errorf("after the rekey: peer id %q subject %q", now.PeerID, now.CertSubject)
		}
		finish(cancel, a, b)
	})
}
