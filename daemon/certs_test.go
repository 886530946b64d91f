package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"metro/auth"
	"metro/auth/testca"
	"metro/policy"
)

type mapResolver map[string][]netip.Addr

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := m[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

// TestCertStartupErrors runs the configuration check (what metrod does
// before touching the kernel) on broken certificate directories.
func TestCertStartupErrors(t *testing.T) {
	ca := testca.NewRoot("Test CA", testca.ECDSAP256)
	a := ca.Issue(testca.LeafOptions{DNS: []string{"a.example.com"}, KeyIndex: 1})
	b := ca.Issue(testca.LeafOptions{DNS: []string{"b.example.com"}, KeyIndex: 2})
	base := func(t *testing.T) string {
		dir := t.TempDir()
		testca.WriteFile(dir, "ca.crt", testca.CertPEM(ca.Root()))
		a.WriteServer(dir, "a.example.com")
		testca.WriteFile(dir, "b.example.com.crt", b.ChainPEM())
		return dir
	}
	cases := []struct {
		name  string
		setup func(dir string)
		want  []string
	}{
		{"ok", func(string) {}, nil},
		{"two domains", func(dir string) {
			testca.WriteFile(dir, "x.other.org.crt", b.ChainPEM())
		}, []string{"2 different domains", "example.com (a.example.com.crt, b.example.com.crt)", "other.org (x.other.org.crt)"}},
		{"CA named like a server", func(dir string) {
			os.Rename(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "root.example.com.crt"))
		}, []string{"root.example.com.crt is a CA certificate", "METRO_CA_CERT="}},
		{"missing own key", func(dir string) {
			os.Remove(filepath.Join(dir, "a.example.com.key"))
		}, []string{"this host's private key", "a.example.com.key", "no such file"}},
		{"key of another certificate", func(dir string) {
			testca.WriteFile(dir, "a.example.com.key", testca.KeyPEM(b.Key))
		}, []string{"a.example.com.key does not match the certificate", "a.example.com.crt"}},
		{"PSK and certificate for one address", func(dir string) {
			testca.WriteFile(dir, "x.psk", []byte("# group\n192.0.2.1 192.0.2.2\nkey0123456789abcdefghijklmnopqrstuv\n"))
		}, []string{"address 192.0.2.2 is a pre-shared key peer", "x.psk", "certificate peer (b.example.com)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := base(t)
			c.setup(dir)
			var logs bytes.Buffer
			o := Options{
				Backend: "memory",
				Log:     slog.New(slog.NewTextHandler(&logs, nil)),
				Load: policy.LoadOptions{ConfigFile: filepath.Join(dir, "none.env"), Environ: []string{
					"METRO_CREDS_DIR=" + dir, "METRO_PARENT_HOSTNAME=a",
				}},
				Resolver: mapResolver{"a.example.com": {netip.MustParseAddr("192.0.2.1")}, "b.example.com": {netip.MustParseAddr("192.0.2.2")}},
			}
			s := &setup{cfg: &policy.Config{CredsDir: dir, ParentHostname: "a", CACert: filepath.Join(dir, "ca.crt")},
				locals: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}
			if strings.Contains(c.name, "PSK") {
				s.peers = []policy.Peer{{Local: netip.MustParseAddr("192.0.2.1"), Remote: netip.MustParseAddr("192.0.2.2"),
					PSK: &auth.PSKFile{Path: filepath.Join(dir, "x.psk")}}}
			}
			err := loadCertPeers(context.Background(), s, o, o.Log)
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if len(s.peers) != 1 || s.peers[0].Cert == nil || s.peers[0].Cert.Names[0] != "b.example.com" ||
					s.peers[0].Local != netip.MustParseAddr("192.0.2.1") {
					t.Fatalf("peers %+v", s.peers)
				}
				if !strings.Contains(logs.String(), "local_id=a.example.com") {
					t.Errorf("log lacks the local identity:\n%s", logs.String())
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a ConfigError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}
