package e2e

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"metro/auth/testca"
)

// loadCharonCerts gives charon on s's host s's certificate, key, the CA and
// the intermediates (in a swanctl directory of the host's own) and one
// connection per family with metrod on peer. initiate starts them at once.
func loadCharonCerts(t *testing.T, c *Charon, s, peer *certServer, root *x509.Certificate, initiate bool) {
	t.Helper()
	dir := filepath.Join(c.Host.Dir, "swanctl")
	for _, d := range []string{"x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl", "pubkey", "rsa", "ecdsa", "bliss", "pkcs8", "pkcs12", "private", "conf.d"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	testca.WriteFile(filepath.Join(dir, "x509"), s.FQDN()+".crt", testca.CertPEM(s.Leaf.Cert))
	testca.WriteFile(filepath.Join(dir, "private"), s.FQDN()+".key", testca.KeyPEM(s.Leaf.Key))
	testca.WriteFile(filepath.Join(dir, "x509ca"), "ca.crt", testca.CertPEM(root))
	for i, im := range s.Leaf.Chain {
		testca.WriteFile(filepath.Join(dir, "x509ca"), fmt.Sprintf("im%d.crt", i), testca.CertPEM(im))
	}
	action := "none"
	if initiate {
		action = "start"
	}
	var b strings.Builder
	b.WriteString("connections {\n")
	for _, fam := range []struct {
		name        string
		local, peer string
	}{{"metro4", s.Host.V4.String(), peer.Host.V4.String()}, {"metro6", s.Host.V6.String(), peer.Host.V6.String()}} {
		fmt.Fprintf(&b, `	%[1]s {
		version = 2
		local_addrs = %[2]s
		remote_addrs = %[3]s
		proposals = %[4]s
		fragmentation = yes
		local {
			auth = pubkey
			certs = %[5]s.crt
			id = %[5]s
		}
		remote {
			auth = pubkey
			id = %[6]s
			cacerts = ca.crt
		}
		children {
			%[1]s {
				mode = transport
				esp_proposals = %[7]s
				start_action = %[8]s
			}
		}
	}
`, fam.name, fam.local, fam.peer, interopIKE, s.FQDN(), peer.FQDN(), interopESP, action)
	}
	b.WriteString("}\n")
	if err := os.WriteFile(filepath.Join(dir, "swanctl.conf"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := c.Host.TryRun(t, "sh", "-c", "SWANCTL_DIR="+dir+" swanctl --load-all --clear --uri "+c.URI)
	if err != nil {
		t.Fatalf("swanctl --load-all: %v\n%s", err, out)
	}
}

// TestInteropStrongSwanCert: metrod and strongSwan authenticate each other
// with RSA and ECDSA certificates, each as initiator, over both families;
// and a chain of a leaf and two RSA-4096 intermediates, which needs IKE
// fragmentation both ways.
func TestInteropStrongSwanCert(t *testing.T) {
	RequireStrongSwan(t)
	for _, kt := range []testca.KeyType{testca.RSA2048, testca.ECDSAP256, testca.RSA4096} {
		for _, metrodInitiates := range []bool{true, false} {
			name := fmt.Sprintf("%s/metrod-initiates=%v", kt, metrodInitiates)
			chained := kt == testca.RSA4096
			if chained {
				name = "chain-rsa4096-fragmented/" + fmt.Sprintf("metrod-initiates=%v", metrodInitiates)
			}
			t.Run(name, func(t *testing.T) {
				a, b := NewPair(t)
				sa, sb := &certServer{Host: a, Short: "alpha"}, &certServer{Host: b, Short: "bravo"}
				servers := []*certServer{sa, sb}
				root := testca.NewRoot("metro interop CA "+string(kt), kt)
				issuer := root
				if chained {
					issuer = root.Intermediate("metro interop im 1", kt).Intermediate("metro interop im 2", kt)
				}
				for i, s := range servers {
					s.Leaf = issuer.Issue(testca.LeafOptions{DNS: []string{s.FQDN()}, KeyType: kt, KeyIndex: i + 1})
				}
				writeCertCreds(t, root, kt, servers)
				writeNetnsHosts(t, servers)
				ch := b.StartCharon(t)
				extra := []string{}
				if chained {
					extra = append(extra, "--ike-fragment-size", "1000")
				}
				var m *Metrod
				if metrodInitiates {
					loadCharonCerts(t, ch, sb, sa, root.Cert, false)
					m = startCertMetrod(t, sa, extra...)
				} else {
					m = startCertMetrod(t, sa, extra...)
					// Let metrod's own attempts fail first, so that
					// strongSwan's are the ones that succeed.
					time.Sleep(2 * time.Second)
					loadCharonCerts(t, ch, sb, sa, root.Cert, true)
				}
				st := m.WaitEstablished(t, 90*time.Second, b.V4, b.V6)
				checkCertPeer(t, st, b.V4, sb)
				checkCertPeer(t, st, b.V6, sb)
				checkRoles(t, st, metrodInitiates, b.V4, b.V6)
				a.MustPing(t, b.V4, 2)
				a.MustPing(t, b.V6, 2)
				sas := ch.SAs(t)
				if !strings.Contains(sas, "alpha.metro.test") || strings.Count(sas, "ESTABLISHED") < 2 {
					t.Errorf("strongSwan's SAs:\n%s", sas)
				}
				if chained {
					log := m.Proc.Log()
					if !strings.Contains(log, "message fragmented") || !strings.Contains(log, "message reassembled") {
						t.Errorf("no fragmentation in metrod's log:\n%s", lastLines(log, 40))
					}
				}
			})
		}
	}
}
