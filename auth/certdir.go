package auth

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// CertExt and KeyExt are the file name extensions of server certificates
// and their private keys: <server>.<domain>.crt and <server>.<domain>.key.
const (
	CertExt = ".crt"
	KeyExt  = ".key"
)

// ExpiryWarning is how long before a certificate expires metrod warns.
const ExpiryWarning = 30 * 24 * time.Hour

// CertOptions are the inputs of LoadCertDir, from metro's configuration.
type CertOptions struct {
	Dir      string   // METRO_CREDS_DIR
	Domain   string   // METRO_DOMAIN; "" derives it from the *.crt names
	Servers  []string // METRO_CRT_SERVERS (short names); nil derives them
	CAFile   string   // METRO_CA_CERT; "" means Dir/ca.crt
	Hostname string   // METRO_PARENT_HOSTNAME, short or full name
	Now      time.Time
}

// CertSet is the certificate configuration of the credentials directory.
type CertSet struct {
	Domain  string   // lower case, no trailing dot
	Servers []string // short names, sorted, this host's included
	CAFile  string

	// Roots are the certificates of the CA file (trust anchors);
	// Intermediates those of its certificates that are not self-signed,
	// also used to build peers' chains.
	Roots         *x509.CertPool
	RootCerts     []*x509.Certificate
	Intermediates []*x509.Certificate

	// Local is this host's certificate and key.
	Local *LocalCert

	// Files maps a server's full name to its certificate file and the
	// certificate in it (nil for a server of METRO_CRT_SERVERS without a
	// file: its certificate is only known from IKE).
	Files map[string]string
	Certs map[string]*x509.Certificate
}

// LocalCert is this host's certificate chain and private key.
type LocalCert struct {
	Name              string              // full name, the IKE identity
	Chain             []*x509.Certificate // leaf, then intermediates (root excluded)
	Key               Signer
	CertFile, KeyFile string
}

// FQDN returns the full name of a server's short name.
func (s *CertSet) FQDN(short string) string { return short + "." + s.Domain }

// Peers returns the full names of every server but this host, sorted.
func (s *CertSet) Peers() []string {
	var out []string
	for _, sv := range s.Servers {
		if n := s.FQDN(sv); s.Local == nil || n != s.Local.Name {
			out = append(out, n)
		}
	}
	return out
}

// IsServer reports whether name (any case, trailing dot allowed) is one of
// the configured servers, returning its canonical full name.
func (s *CertSet) IsServer(name string) (string, bool) {
	n := NormalizeName(name)
	short, dom, ok := strings.Cut(n, ".")
	if !ok || dom != s.Domain || !slices.Contains(s.Servers, short) {
		return n, false
	}
	return n, true
}

// NormalizeName lower-cases a DNS name and drops a trailing dot.
func NormalizeName(n string) string { return strings.TrimSuffix(strings.ToLower(n), ".") }

// LoadCertDir applies metro's certificate rules to the credentials
// directory. It returns nil (and no error) when certificate authentication
// is not in use: no server certificate in the directory and
// METRO_CRT_SERVERS unset. The returned notes are informational lines
// (files ignored) and warnings (expiry soon, permissions), each naming its
// file.
//
// The rules:
//   - server certificates are the *.crt files but the CA file, named
//     <server>.<domain>.crt, <server> without dots, <domain> the rest;
//   - METRO_DOMAIN, when unset, is the domain of those names, which must all
//     have the same; when set, certificates of other domains are ignored;
//   - METRO_CRT_SERVERS, when unset, are the <server> parts of the names;
//   - a CA certificate among the *.crt files is an error saying what to do;
//   - this host (the first label of METRO_PARENT_HOSTNAME) must have its
//     certificate and a matching key, <server>.<domain>.key, and its
//     certificate must chain to the CA and name it as a DNS subjectAltName.
func LoadCertDir(o CertOptions) (*CertSet, []string, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	caFile := o.CAFile
	if caFile == "" {
		caFile = filepath.Join(o.Dir, "ca.crt")
	}
	entries, err := os.ReadDir(o.Dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading credentials directory %s: %w", o.Dir, unwrapPath(err))
	}
	var notes []string
	type crtFile struct{ path, short, domain string }
	var files []crtFile
	domains := map[string][]string{} // domain -> file names
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, CertExt) || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(o.Dir, name)
		if samePath(path, caFile) {
			continue
		}
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if err := checkNotCA(path, caFile); err != nil {
			return nil, notes, err
		}
		base := NormalizeName(strings.TrimSuffix(name, CertExt))
		short, dom, ok := strings.Cut(base, ".")
		if !ok || short == "" || dom == "" {
			notes = append(notes, fmt.Sprintf("%s: not named <server>.<domain>%s; ignored", path, CertExt))
			continue
		}
		files = append(files, crtFile{path, short, dom})
		domains[dom] = append(domains[dom], name)
	}
	if len(files) == 0 && o.Servers == nil {
		return nil, notes, nil
	}

	domain := NormalizeName(o.Domain)
	if domain == "" {
		switch len(domains) {
		case 0:
			return nil, notes, fmt.Errorf("METRO_CRT_SERVERS is set but METRO_DOMAIN is not, and no <server>.<domain>%s file in %s tells the domain", CertExt, o.Dir)
		case 1:
			for d := range domains {
				domain = d
			}
		default:
			var list []string
			for _, d := range slices.Sorted(mapKeys(domains)) {
				list = append(list, fmt.Sprintf("%s (%s)", d, strings.Join(domains[d], ", ")))
			}
			return nil, notes, fmt.Errorf("certificates in %s name %d different domains: %s; set METRO_DOMAIN to the one this host belongs to, or remove the others",
				o.Dir, len(domains), strings.Join(list, "; "))
		}
	}
	s := &CertSet{Domain: domain, CAFile: caFile, Files: map[string]string{}, Certs: map[string]*x509.Certificate{}}
	var derived []string
	for _, f := range files {
		if f.domain != domain {
			notes = append(notes, fmt.Sprintf("%s: domain %s is not METRO_DOMAIN (%s); ignored", f.path, f.domain, domain))
			continue
		}
		if o.Servers != nil && !slices.Contains(o.Servers, f.short) {
			notes = append(notes, fmt.Sprintf("%s: server %s is not in METRO_CRT_SERVERS; ignored", f.path, f.short))
			continue
		}
		certs, err := readCerts(f.path)
		if err != nil {
			return nil, notes, err
		}
		full := f.short + "." + domain
		s.Files[full] = f.path
		s.Certs[full] = certs[0]
		derived = append(derived, f.short)
		if !hasDNSName(certs[0], full) {
			notes = append(notes, fmt.Sprintf("%s: the certificate does not name %s as a DNS subjectAltName (it has %s); peers will reject it",
				f.path, full, sanList(certs[0])))
		}
	}
	if o.Servers != nil {
		s.Servers = slices.Clone(o.Servers)
		for i, sv := range s.Servers {
			s.Servers[i] = strings.ToLower(sv)
		}
	} else {
		s.Servers = derived
	}
	slices.Sort(s.Servers)
	s.Servers = slices.Compact(s.Servers)

	if err := s.loadCA(); err != nil {
		return nil, notes, err
	}

	host := strings.ToLower(o.Hostname)
	host, _, _ = strings.Cut(host, ".")
	if host == "" {
		return nil, notes, errors.New("certificate authentication needs this host's name: set METRO_PARENT_HOSTNAME")
	}
	if !slices.Contains(s.Servers, host) {
		return nil, notes, fmt.Errorf("this host, %s (METRO_PARENT_HOSTNAME), is not one of the certificate servers (%s): add %s%s and %s%s to %s",
			host, strings.Join(s.Servers, " "), s.FQDN(host), CertExt, s.FQDN(host), KeyExt, o.Dir)
	}
	local, warns, err := s.loadLocal(o.Dir, s.FQDN(host), o.Now)
	notes = append(notes, warns...)
	if err != nil {
		return nil, notes, err
	}
	s.Local = local
	for _, n := range s.Peers() {
		if c := s.Certs[n]; c != nil && c.NotAfter.Sub(o.Now) < ExpiryWarning {
			notes = append(notes, fmt.Sprintf("%s: the certificate of %s expires %s", s.Files[n], n, expiryText(c.NotAfter, o.Now)))
		}
	}
	return s, notes, nil
}

// checkNotCA refuses a CA certificate named like a server certificate.
func checkNotCA(path, caFile string) error {
	certs, err := readCerts(path)
	if err != nil {
		return err
	}
	c := certs[0]
	if !c.IsCA {
		return nil
	}
	if isSelfSigned(c) {
		return fmt.Errorf("%s is a CA certificate (CA:TRUE, self-signed, subject %q), not a server certificate: rename it to %s, or set METRO_CA_CERT=%s (METRO_CA_CERT is now %s)",
			path, c.Subject.String(), filepath.Join(filepath.Dir(path), "ca.crt"), path, caFile)
	}
	return fmt.Errorf("%s is an intermediate CA certificate (CA:TRUE, subject %q, issuer %q), not a server certificate: append it to the server certificate files after their own certificate, or to the CA file %s, and remove %s",
		path, c.Subject.String(), c.Issuer.String(), caFile, path)
}

func (s *CertSet) loadCA() error {
	certs, err := readCerts(s.CAFile)
	if err != nil {
		return fmt.Errorf("CA certificate (METRO_CA_CERT): %w", err)
	}
	s.Roots = x509.NewCertPool()
	for _, c := range certs {
		if !c.IsCA {
			return fmt.Errorf("%s (METRO_CA_CERT): certificate %q is not a CA certificate (no basicConstraints CA:TRUE)", s.CAFile, c.Subject.String())
		}
		s.Roots.AddCert(c)
		s.RootCerts = append(s.RootCerts, c)
		if !isSelfSigned(c) {
			s.Intermediates = append(s.Intermediates, c)
		}
	}
	return nil
}

// loadLocal reads this host's certificate chain and key and checks them.
func (s *CertSet) loadLocal(dir, name string, now time.Time) (*LocalCert, []string, error) {
	var notes []string
	crt := filepath.Join(dir, name+CertExt)
	keyFile := filepath.Join(dir, name+KeyExt)
	if _, ok := s.Files[name]; !ok {
		return nil, nil, fmt.Errorf("this host's certificate %s is missing (this host is %s: METRO_PARENT_HOSTNAME and METRO_DOMAIN)", crt, name)
	}
	certs, err := readCerts(crt)
	if err != nil {
		return nil, nil, err
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("this host's private key %s: %w (it must sit next to %s)", keyFile, unwrapPath(err), crt)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		notes = append(notes, fmt.Sprintf("%s: accessible by group or others (mode %04o); run chmod 600 %s", keyFile, perm, keyFile))
	}
	key, err := readKey(keyFile)
	if err != nil {
		return nil, notes, err
	}
	leaf := certs[0]
	if !samePublicKey(key.Public(), leaf.PublicKey) {
		return nil, notes, fmt.Errorf("%s does not match the certificate %s (subject %q): the key belongs to another certificate", keyFile, crt, leaf.Subject.String())
	}
	if !hasDNSName(leaf, name) {
		return nil, notes, fmt.Errorf("%s: the certificate must name %s as a DNS subjectAltName, it has %s (peers would reject it)", crt, name, sanList(leaf))
	}
	if err := checkKeyUsage(leaf); err != nil {
		return nil, notes, fmt.Errorf("%s: %w", crt, err)
	}
	inter := append(slices.Clone(s.Intermediates), certs[1:]...)
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots: s.Roots, Intermediates: pool(inter), CurrentTime: clampValidity(leaf, now),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, notes, fmt.Errorf("%s (subject %q, issuer %q) does not chain to the CA in %s: %v", crt, leaf.Subject.String(), leaf.Issuer.String(), s.CAFile, err)
	}
	chain := []*x509.Certificate{leaf}
	for _, c := range chains[0][1:] {
		if !isSelfSigned(c) {
			chain = append(chain, c)
		}
	}
	switch {
	case now.After(leaf.NotAfter):
		notes = append(notes, fmt.Sprintf("%s: this host's certificate EXPIRED on %s; peers will reject it", crt, leaf.NotAfter.UTC().Format(time.RFC3339)))
	case now.Before(leaf.NotBefore):
		notes = append(notes, fmt.Sprintf("%s: this host's certificate is not valid before %s; peers will reject it until then", crt, leaf.NotBefore.UTC().Format(time.RFC3339)))
	case leaf.NotAfter.Sub(now) < ExpiryWarning:
		notes = append(notes, fmt.Sprintf("%s: this host's certificate expires %s", crt, expiryText(leaf.NotAfter, now)))
	}
	return &LocalCert{Name: name, Chain: chain, Key: key, CertFile: crt, KeyFile: keyFile}, notes, nil
}

// clampValidity returns a time inside the certificate's validity period
// near now: the validity of our own certificate is reported as a warning,
// not as a chain error.
func clampValidity(c *x509.Certificate, now time.Time) time.Time {
	if now.Before(c.NotBefore) {
		return c.NotBefore
	}
	if now.After(c.NotAfter) {
		return c.NotAfter
	}
	return now
}

func expiryText(t, now time.Time) string {
	d := t.Sub(now)
	if d < 0 {
		return "— EXPIRED on " + t.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("in %d days, on %s: renew it", int(d.Hours()/24), t.UTC().Format(time.RFC3339))
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func samePath(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

func pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
