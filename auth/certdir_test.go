package auth_test

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"metro/auth"
	"metro/auth/testca"
)

// credsDir writes a CA and server certificates for the given full names,
// all ECDSA, and returns the directory.
func credsDir(t *testing.T, ca *testca.CA, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	testca.WriteFile(dir, "ca.crt", testca.CertPEM(ca.Root()))
	for i, n := range names {
		l := ca.Issue(testca.LeafOptions{DNS: []string{n}, KeyIndex: i + 1})
		l.WriteServer(dir, n)
	}
	return dir
}

func TestLoadCertDirDerives(t *testing.T) {
	ca := testca.NewRoot("Test CA", testca.ECDSAP256)
	dir := credsDir(t, ca, "a.example.com", "b.example.com", "c.example.com")
	os.Remove(filepath.Join(dir, "b.example.com.key")) // only ours is needed
	s, notes, err := auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "a.example.com"})
	if err != nil {
		t.Fatal(err, notes)
	}
	if s.Domain != "example.com" || !slices.Equal(s.Servers, []string{"a", "b", "c"}) {
		t.Errorf("domain %q servers %q", s.Domain, s.Servers)
	}
	if s.Local.Name != "a.example.com" || !slices.Equal(s.Peers(), []string{"b.example.com", "c.example.com"}) {
		t.Errorf("local %q peers %q", s.Local.Name, s.Peers())
	}
	if n, ok := s.IsServer("B.Example.COM."); !ok || n != "b.example.com" {
		t.Errorf("IsServer = %q %v", n, ok)
	}
	if len(s.CertReqHashes()) != 20 {
		t.Errorf("CERTREQ hashes have %d bytes, want 20", len(s.CertReqHashes()))
	}
}

func TestLoadCertDirNone(t *testing.T) {
	dir := t.TempDir()
	testca.WriteFile(dir, "x.psk", []byte("10.0.0.1\n"))
	s, _, err := auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "a"})
	if s != nil || err != nil {
		t.Fatalf("got %v, %v; want nil, nil without certificates", s, err)
	}
}

func TestLoadCertDirDomains(t *testing.T) {
	ca := testca.NewRoot("Test CA", testca.ECDSAP256)
	dir := credsDir(t, ca, "a.example.com", "b.example.com", "x.other.org")
	_, _, err := auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "a"})
	if err == nil || !strings.Contains(err.Error(), "example.com (a.example.com.crt, b.example.com.crt)") ||
		!strings.Contains(err.Error(), "other.org (x.other.org.crt)") || !strings.Contains(err.Error(), "METRO_DOMAIN") {
		t.Fatalf("err = %v", err)
	}
	s, notes, err := auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "a", Domain: "Example.com."})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Servers, []string{"a", "b"}) {
		t.Errorf("servers %q", s.Servers)
	}
	if !slices.ContainsFunc(notes, func(n string) bool {
		return strings.Contains(n, "x.other.org.crt: domain other.org is not METRO_DOMAIN")
	}) {
		t.Errorf("notes %q lack the ignored file", notes)
	}
}

func TestLoadCertDirServersSet(t *testing.T) {
	ca := testca.NewRoot("Test CA", testca.ECDSAP256)
	dir := credsDir(t, ca, "a.sub.example.com", "b.sub.example.com", "c.sub.example.com")
	s, notes, err := auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "a.sub.example.com", Servers: []string{"a", "b", "d"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Domain != "sub.example.com" || !slices.Equal(s.Peers(), []string{"b.sub.example.com", "d.sub.example.com"}) {
		t.Errorf("domain %q peers %q", s.Domain, s.Peers())
	}
	if !slices.ContainsFunc(notes, func(n string) bool {
		return strings.Contains(n, "c.sub.example.com.crt: server c is not in METRO_CRT_SERVERS")
	}) {
		t.Errorf("notes %q", notes)
	}
}

func TestLoadCertDirCANamedLikeServer(t *testing.T) {
	ca := testca.NewRoot("Test CA", testca.ECDSAP256)
	dir := credsDir(t, ca, "a.example.com", "b.example.com")
	os.Rename(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "my-ca.example.com.crt"))
	_, _, err := auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "a"})
	if err == nil || !strings.Contains(err.Error(), "my-ca.example.com.crt is a CA certificate") ||
		!strings.Contains(err.Error(), "METRO_CA_CERT="+filepath.Join(dir, "my-ca.example.com.crt")) {
		t.Fatalf("err = %v", err)
	}
	// Named in METRO_CA_CERT, it is the CA.
	if _, _, err := auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "a", CAFile: filepath.Join(dir, "my-ca.example.com.crt")}); err != nil {
		t.Fatal(err)
	}
}

func TestLoadCertDirLocalKey(t *testing.T) {
	ca := testca.NewRoot("Test CA", testca.ECDSAP256)
	dir := credsDir(t, ca, "a.example.com", "b.example.com")
	os.Rename(filepath.Join(dir, "a.example.com.key"), filepath.Join(dir, "a.key.bak"))
	_, _, err := auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "a"})
	if err == nil || !strings.Contains(err.Error(), "a.example.com.key") || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing key: err = %v", err)
	}
	// b's key next to a's certificate: does not match.
	data, _ := os.ReadFile(filepath.Join(dir, "b.example.com.key"))
	os.WriteFile(filepath.Join(dir, "a.example.com.key"), data, 0o600)
	_, _, err = auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "a"})
	if err == nil || !strings.Contains(err.Error(), "does not match the certificate") {
		t.Fatalf("wrong key: err = %v", err)
	}
	// Not one of the servers.
	_, _, err = auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "zz"})
	if err == nil || !strings.Contains(err.Error(), "zz (METRO_PARENT_HOSTNAME), is not one of the certificate servers (a b)") {
		t.Fatalf("not a server: err = %v", err)
	}
}

func TestLoadCertDirLocalChecks(t *testing.T) {
	ca := testca.NewRoot("Test CA", testca.ECDSAP256)
	other := testca.NewRootKey("Other CA", testca.ECDSAP256, 101)
	dir := credsDir(t, ca, "b.example.com")
	other.Issue(testca.LeafOptions{DNS: []string{"a.example.com"}}).WriteServer(dir, "a.example.com")
	_, _, err := auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "a"})
	if err == nil || !strings.Contains(err.Error(), "does not chain to the CA") {
		t.Fatalf("wrong CA: err = %v", err)
	}
	ca.Issue(testca.LeafOptions{CN: "a.example.com"}).WriteServer(dir, "a.example.com")
	_, _, err = auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "a"})
	if err == nil || !strings.Contains(err.Error(), "must name a.example.com as a DNS subjectAltName, it has no DNS subjectAltName") {
		t.Fatalf("CN only: err = %v", err)
	}
	ca.Issue(testca.LeafOptions{DNS: []string{"a.example.com"}, NotAfter: time.Now().Add(10 * 24 * time.Hour)}).WriteServer(dir, "a.example.com")
	_, notes, err := auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "a"})
	if err != nil || !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "this host's certificate expires in 9 days") }) {
		t.Fatalf("expiring soon: err %v notes %q", err, notes)
	}
}

func TestLoadCertDirIntermediates(t *testing.T) {
	root := testca.NewRoot("Root", testca.RSA2048)
	i1 := root.Intermediate("Inter 1", testca.ECDSAP256)
	i2 := i1.Intermediate("Inter 2", testca.ECDSAP256)
	dir := t.TempDir()
	testca.WriteFile(dir, "ca.crt", testca.CertPEM(root.Cert))
	i2.Issue(testca.LeafOptions{DNS: []string{"a.example.com"}}).WriteServer(dir, "a.example.com")
	s, _, err := auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Local.Chain) != 3 || s.Local.Chain[1].Subject.CommonName != "Inter 2" || s.Local.Chain[2].Subject.CommonName != "Inter 1" {
		t.Fatalf("chain %v", s.Local.Chain)
	}
	// An intermediate named like a server.
	testca.WriteFile(dir, "inter.example.com.crt", testca.CertPEM(i1.Cert))
	_, _, err = auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "a"})
	if err == nil || !strings.Contains(err.Error(), "is an intermediate CA certificate") {
		t.Fatalf("err = %v", err)
	}
}

func TestCertSetVerify(t *testing.T) {
	root := testca.NewRoot("Root", testca.ECDSAP256)
	inter := root.Intermediate("Inter", testca.ECDSAP256)
	wrong := testca.NewRootKey("Wrong CA", testca.ECDSAP256, 102)
	dir := credsDir(t, root, "a.example.com", "b.example.com")
	s, _, err := auth.LoadCertDir(auth.CertOptions{Dir: dir, Hostname: "a"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	chain := func(l *testca.Leaf) []*x509.Certificate { return append([]*x509.Certificate{l.Cert}, l.Chain...) }
	good := inter.Issue(testca.LeafOptions{DNS: []string{"B.example.com"}})
	if err := s.Verify(chain(good), "b.example.com.", now); err != nil {
		t.Fatalf("good chain: %v", err)
	}
	cases := []struct {
		name  string
		chain []*x509.Certificate
		id    string
		want  string
	}{
		{"no intermediate", []*x509.Certificate{good.Cert}, "b.example.com", "does not chain to the CA"},
		{"not a server", chain(inter.Issue(testca.LeafOptions{DNS: []string{"z.example.com"}})), "z.example.com", "not a configured certificate server"},
		{"wrong name", chain(inter.Issue(testca.LeafOptions{DNS: []string{"a.example.com"}})), "b.example.com", "expected DNS subjectAltName b.example.com"},
		{"wildcard", chain(inter.Issue(testca.LeafOptions{DNS: []string{"*.example.com"}})), "b.example.com", "wildcards are not accepted"},
		{"CN only", chain(inter.Issue(testca.LeafOptions{CN: "b.example.com"})), "b.example.com", "no DNS subjectAltName"},
		{"expired", chain(inter.Issue(testca.LeafOptions{DNS: []string{"b.example.com"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)})), "b.example.com", "expired on"},
		{"not yet valid", chain(inter.Issue(testca.LeafOptions{DNS: []string{"b.example.com"}, NotBefore: now.Add(time.Hour)})), "b.example.com", "not yet valid"},
		{"wrong CA", chain(wrong.Issue(testca.LeafOptions{DNS: []string{"b.example.com"}})), "b.example.com", `issuer "CN=Wrong CA,O=metro test" does not chain`},
		{"key usage", chain(inter.Issue(testca.LeafOptions{DNS: []string{"b.example.com"}, KeyUsage: x509.KeyUsageKeyEncipherment})), "b.example.com", "does not allow digital signatures"},
	}
	for _, c := range cases {
		err := s.Verify(c.chain, c.id, now)
		var ce *auth.CertError
		if !errors.As(err, &ce) || !strings.Contains(ce.Reason, c.want) {
			t.Errorf("%s: err = %v, want a CertError with %q", c.name, err, c.want)
			continue
		}
		if ce.Subject == "" || ce.ID != c.id {
			t.Errorf("%s: CertError lacks what was presented: %+v", c.name, ce)
		}
	}
}
