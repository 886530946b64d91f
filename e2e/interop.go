package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file runs the IKE daemons metrod must interoperate with, strongSwan
// (charon, from Debian's packages) and Libreswan (pluto, extracted by
// scripts/vm-libreswan.sh), in a test host's network namespace. Each daemon
// runs in its own mount namespace with a private /run, so two of them never
// meet on pid files or sockets; their configuration lives in the host's
// scratch directory.

// IPsecConn is one host-to-host transport-mode connection authenticated by
// a pre-shared key, from the point of view of the host that runs the peer
// daemon. Proposals use strongSwan's syntax (IKE "aes128gcm16-prfsha256-x25519",
// ESP "aes128gcm16"); Libreswan's are derived from them.
type IPsecConn struct {
	Name          string
	Local, Remote netip.Addr
	PSK           string
	IKE, ESP      string
	Initiate      bool // the peer daemon initiates as soon as the connection is loaded

	// strongSwan only: rekey_time of the IKE SA and of the CHILD_SA (zero:
	// strongSwan's defaults, 4h and 1h). strongSwan rekeys at a random
	// moment up to 10% before these.
	IKERekey, ChildRekey time.Duration
}

// Charon is a strongSwan charon process on a host.
type Charon struct {
	Host *Host
	Proc *Proc
	URI  string // vici socket, for swanctl --uri
	conf string // swanctl.conf path
}

const charonBin = "/usr/lib/ipsec/charon"

// RequireStrongSwan skips the test when strongSwan is not installed.
func RequireStrongSwan(t testing.TB) {
	t.Helper()
	for _, p := range []string{charonBin, "/usr/sbin/swanctl"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("strongSwan is not installed (%s missing): apt-get install strongswan-charon strongswan-swanctl libcharon-extra-plugins", p)
		}
	}
}

// StartCharon runs charon in the host's namespace and waits until its vici
// socket accepts swanctl. No connection is loaded yet.
func (h *Host) StartCharon(t testing.TB) *Charon {
	t.Helper()
	RequireStrongSwan(t)
	sock := filepath.Join(h.Dir, "charon.vici")
	os.Remove(sock)
	conf := filepath.Join(h.Dir, "strongswan.conf")
	body := fmt.Sprintf(`# written by the e2e test
charon {
	load_modular = yes
	install_routes = no
	install_virtual_ip = no
	retransmit_timeout = 1.0
	retransmit_base = 1.4
	plugins {
		include /etc/strongswan.d/charon/*.conf
		vici {
			socket = unix://%s
		}
	}
	filelog {
		stderr {
			default = 1
			ike = 2
			cfg = 2
			time_format = %%T
		}
	}
	syslog {
		daemon {
			default = -1
		}
	}
}
`, sock)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	p := h.Start(t, "unshare", "-m", "--propagation", "private", "sh", "-c",
		"mount -t tmpfs tmpfs /run && STRONGSWAN_CONF="+conf+" exec "+charonBin)
	c := &Charon{Host: h, Proc: p, URI: "unix://" + sock, conf: filepath.Join(h.Dir, "swanctl.conf")}
	WaitFor(t, 60*time.Second, "charon's vici socket in "+h.Name, func() bool {
		if p.Exited() {
			t.Fatalf("charon on %s exited:\n%s", h.Name, lastLines(p.Log(), 40))
		}
		_, err := h.TryRun(t, "swanctl", "--stats", "--uri", c.URI)
		return err == nil
	})
	return c
}

// Swanctl runs swanctl against this charon.
func (c *Charon) Swanctl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return c.Host.TryRun(t, "swanctl", append(args, "--uri", c.URI)...)
}

// Load replaces charon's connections and secrets with conns. Connections
// with Initiate set start at once (start_action = start).
func (c *Charon) Load(t testing.TB, conns ...IPsecConn) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# written by the e2e test\nconnections {\n")
	for _, cn := range conns {
		action := "none"
		if cn.Initiate {
			action = "start"
		}
		ikeRekey, childRekey := "", ""
		if cn.IKERekey > 0 {
			ikeRekey = fmt.Sprintf("\n\t\trekey_time = %ds", int(cn.IKERekey.Seconds()))
		}
		if cn.ChildRekey > 0 {
			childRekey = fmt.Sprintf("\n\t\t\t\trekey_time = %ds", int(cn.ChildRekey.Seconds()))
		}
		fmt.Fprintf(&b, `	%[1]s {
		version = 2
		local_addrs = %[2]s
		remote_addrs = %[3]s
		proposals = %[4]s%[7]s
		local {
			auth = psk
			id = %[2]s
		}
		remote {
			auth = psk
			id = %[3]s
		}
		children {
			%[1]s {
				mode = transport
				esp_proposals = %[5]s
				start_action = %[6]s%[8]s
			}
		}
	}
`, cn.Name, cn.Local, cn.Remote, cn.IKE, cn.ESP, action, ikeRekey, childRekey)
	}
	b.WriteString("}\nsecrets {\n")
	for _, cn := range conns {
		fmt.Fprintf(&b, "\tike-%s {\n\t\tid-1 = %s\n\t\tid-2 = %s\n\t\tsecret = %q\n\t}\n", cn.Name, cn.Local, cn.Remote, cn.PSK)
	}
	b.WriteString("}\n")
	if err := os.WriteFile(c.conf, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Swanctl(t, "--load-all", "--clear", "--file", c.conf); err != nil {
		t.Fatalf("swanctl --load-all on %s: %v\n%s", c.Host.Name, err, out)
	}
}

// SAs returns `swanctl --list-sas` (no keys in it).
func (c *Charon) SAs(t testing.TB) string {
	t.Helper()
	out, _ := c.Swanctl(t, "--list-sas")
	return out
}

// TerminateAll terminates every IKE SA of the named connections.
func (c *Charon) TerminateAll(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		c.Swanctl(t, "--terminate", "--ike", n, "--force", "--timeout", "5")
	}
}

// libreswanCache is where scripts/vm-libreswan.sh extracts the package.
func libreswanCache() string {
	base := os.Getenv("METRO_VM_CACHE")
	if base == "" {
		base = "/var/cache/metro-vm"
	}
	return filepath.Join(base, "libreswan", "current")
}

var libreswanOnce sync.Once
var libreswanErr error

// RequireLibreswan copies the extracted Libreswan package over the VM's
// (writable, throw-away) root file system once, or skips the test when
// scripts/vm-libreswan.sh has not run.
func RequireLibreswan(t testing.TB) {
	t.Helper()
	RequireVM(t)
	src := libreswanCache()
	if _, err := os.Stat(filepath.Join(src, "usr", "libexec", "ipsec", "pluto")); err != nil {
		t.Skipf("Libreswan is not extracted in %s: run scripts/vm-libreswan.sh", src)
	}
	libreswanOnce.Do(func() {
		out, err := exec.Command("cp", "-a", filepath.Join(src, "usr")+"/.", "/usr/").CombinedOutput()
		if err != nil {
			libreswanErr = fmt.Errorf("copying Libreswan into the VM root: %v: %s", err, out)
		}
	})
	if libreswanErr != nil {
		t.Fatal(libreswanErr)
	}
}

// Pluto is a Libreswan pluto process on a host.
type Pluto struct {
	Host *Host
	Proc *Proc
	Ctl  string // control socket
	dir  string
	conf string
}

// StartPluto writes ipsec.conf and ipsec.secrets for conns, runs pluto in
// the host's namespace, waits for its control socket and adds the
// connections; those with Initiate set are initiated right away.
func (h *Host) StartPluto(t testing.TB, conns ...IPsecConn) *Pluto {
	t.Helper()
	RequireLibreswan(t)
	dir := filepath.Join(h.Dir, "pluto")
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	pl := &Pluto{Host: h, Ctl: filepath.Join(dir, "pluto.ctl"), dir: dir, conf: filepath.Join(dir, "ipsec.conf")}
	secretsPath := filepath.Join(dir, "ipsec.secrets")
	pl.writeConf(t, secretsPath, conns)
	if out, err := h.TryRun(t, "ipsec", "initnss", "--nssdir", dir); err != nil {
		t.Fatalf("ipsec initnss: %v\n%s", err, out)
	}
	pl.Proc = h.Start(t, "unshare", "-m", "--propagation", "private", "sh", "-c",
		"mount -t tmpfs tmpfs /run && exec /usr/libexec/ipsec/pluto --nofork --stderrlog --config "+pl.conf+
			" --rundir "+dir+" --nssdir "+dir+" --secretsfile "+secretsPath)
	WaitFor(t, 60*time.Second, "pluto's control socket in "+h.Name, func() bool {
		if pl.Proc.Exited() {
			t.Fatalf("pluto on %s exited:\n%s", h.Name, lastLines(pl.Proc.Log(), 40))
		}
		_, err := h.TryRun(t, "ipsec", "whack", "--ctlsocket", pl.Ctl, "--status")
		return err == nil
	})
	pl.add(t, conns)
	return pl
}

// writeConf writes ipsec.conf and ipsec.secrets for conns.
func (pl *Pluto) writeConf(t testing.TB, secretsPath string, conns []IPsecConn) {
	t.Helper()
	var conf, secrets strings.Builder
	conf.WriteString("# written by the e2e test\nconfig setup\n\tplutodebug=none\n\n")
	for _, cn := range conns {
		ike, err := LibreswanIKE(cn.IKE)
		if err != nil {
			t.Fatal(err)
		}
		esp, err := LibreswanESP(cn.ESP)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&conf, "conn %s\n\tleft=%s\n\tleftid=%s\n\tright=%s\n\trightid=%s\n"+
			"\ttype=transport\n\tauthby=secret\n\tikev2=yes\n\tike=%s\n\tesp=%s\n\tauto=add\n\n",
			cn.Name, cn.Local, cn.Local, cn.Remote, cn.Remote, ike, esp)
		fmt.Fprintf(&secrets, "%s %s : PSK %q\n", cn.Local, cn.Remote, cn.PSK)
	}
	if err := os.WriteFile(pl.conf, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretsPath, []byte(secrets.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// add adds conns to the running pluto and initiates those with Initiate.
func (pl *Pluto) add(t testing.TB, conns []IPsecConn) {
	t.Helper()
	h := pl.Host
	for _, cn := range conns {
		if out, err := h.TryRun(t, "ipsec", "addconn", "--ctlsocket", pl.Ctl, "--config", pl.conf, cn.Name); err != nil {
			t.Fatalf("ipsec addconn %s: %v\n%s", cn.Name, err, out)
		}
	}
	for _, cn := range conns {
		if cn.Initiate {
			if out, err := h.TryRun(t, "ipsec", "whack", "--ctlsocket", pl.Ctl, "--name", cn.Name, "--initiate", "--asynchronous"); err != nil {
				t.Fatalf("ipsec whack --initiate %s: %v\n%s", cn.Name, err, out)
			}
		}
	}
}

// Replace deletes pluto's connections old and adds (and initiates) conns.
func (pl *Pluto) Replace(t testing.TB, old []IPsecConn, conns ...IPsecConn) {
	t.Helper()
	for _, cn := range old {
		if out, err := pl.Host.TryRun(t, "ipsec", "whack", "--ctlsocket", pl.Ctl, "--delete", "--name", cn.Name); err != nil {
			t.Fatalf("ipsec whack --delete %s: %v\n%s", cn.Name, err, out)
		}
	}
	pl.writeConf(t, filepath.Join(pl.dir, "ipsec.secrets"), conns)
	pl.add(t, conns)
}

// Status returns `ipsec whack --trafficstatus` (no keys in it).
func (pl *Pluto) Status(t testing.TB) string {
	t.Helper()
	out, _ := pl.Host.TryRun(t, "ipsec", "whack", "--ctlsocket", pl.Ctl, "--trafficstatus")
	return out
}

// libreswanNames maps strongSwan proposal tokens to Libreswan's.
var libreswanNames = map[string]string{
	"aes128gcm16": "aes_gcm128", "aes256gcm16": "aes_gcm256", "chacha20poly1305": "chacha20_poly1305",
	"aes128": "aes128", "aes256": "aes256",
	"sha256": "sha2_256", "sha384": "sha2_384", "sha512": "sha2_512",
	"prfsha256": "sha2_256", "prfsha384": "sha2_384", "prfsha512": "sha2_512",
	"x25519": "dh31", "ecp256": "dh19", "ecp384": "dh20",
	"modp2048": "dh14", "modp3072": "dh15", "modp4096": "dh16",
}

// LibreswanIKE converts one strongSwan IKE proposal (encr[-integ]-prf-ke)
// into Libreswan's ike= syntax, "encr-integ|prf;dh".
func LibreswanIKE(p string) (string, error) {
	var encr, hash, dh string
	for _, tok := range strings.Split(p, "-") {
		n, ok := libreswanNames[tok]
		switch {
		case !ok:
			return "", fmt.Errorf("e2e: no Libreswan name for %q in %q", tok, p)
		case strings.HasPrefix(n, "dh"):
			dh = n
		case strings.HasPrefix(n, "sha2"):
			hash = n // integrity and PRF use the same hash in our proposals
		default:
			encr = n
		}
	}
	if encr == "" || hash == "" || dh == "" {
		return "", fmt.Errorf("e2e: IKE proposal %q needs an encryption, a hash and a group", p)
	}
	return encr + "-" + hash + ";" + dh, nil
}

// LibreswanESP converts one strongSwan ESP proposal (encr[-integ][-ke])
// into Libreswan's esp= syntax.
func LibreswanESP(p string) (string, error) {
	var parts []string
	dh := ""
	for _, tok := range strings.Split(p, "-") {
		n, ok := libreswanNames[tok]
		if !ok {
			return "", fmt.Errorf("e2e: no Libreswan name for %q in %q", tok, p)
		}
		if strings.HasPrefix(n, "dh") {
			dh = n
			continue
		}
		parts = append(parts, n)
	}
	s := strings.Join(parts, "-")
	if dh != "" {
		s += ";" + dh
	}
	return s, nil
}

// Tshark runs tshark on a capture file with extra options and returns its
// output.
func Tshark(t testing.TB, pcap string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed (apt-get install tshark)")
	}
	cmd := exec.Command("tshark", append([]string{"-n", "-r", pcap}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// KeyLogOptions turns a metrod key log into tshark -o options: one UAT
// record per option, ESP decryption switched on.
func KeyLogOptions(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading key log: %v", err)
	}
	opts := []string{"-o", "esp.enable_encryption_decode:TRUE"}
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, `"IPv4"`), strings.HasPrefix(line, `"IPv6"`):
			opts = append(opts, "-o", "uat:esp_sa:"+line)
		default:
			opts = append(opts, "-o", "uat:ikev2_decryption_table:"+line)
		}
	}
	return opts
}

// SwanSA is one IKE SA of `swanctl --list-sas`, with its CHILD_SAs.
type SwanSA struct {
	Name, State string // connection name; ESTABLISHED, REKEYING, DELETING, ...
	SPIi, SPIr  string // 16 hex digits each
	Initiator   bool   // strongSwan is the initiator of this IKE SA
	Children    []SwanChild
}

// SwanChild is one CHILD_SA of `swanctl --list-sas`.
type SwanChild struct {
	Name, State   string // INSTALLED, REKEYED, DELETED, ...
	SPIIn, SPIOut string // 8 hex digits each, from strongSwan's side
}

var (
	swanIKELine   = regexp.MustCompile(`^(\S+): #\d+, (\S+), IKEv2, ([0-9a-f]{16})_i(\*?) ([0-9a-f]{16})_r(\*?)$`)
	swanChildLine = regexp.MustCompile(`^\s+(\S+): #\d+, reqid \d+, (\S+),`)
	swanSPILine   = regexp.MustCompile(`^\s+(in|out)\s+([0-9a-f]{8})\b`)
)

// ParseSwanSAs reads the output of `swanctl --list-sas`.
func ParseSwanSAs(out string) ([]SwanSA, error) {
	var sas []SwanSA
	for _, line := range strings.Split(out, "\n") {
		if m := swanIKELine.FindStringSubmatch(line); m != nil {
			sas = append(sas, SwanSA{Name: m[1], State: m[2], SPIi: m[3], SPIr: m[5], Initiator: m[4] == "*"})
			continue
		}
		if len(sas) == 0 {
			if strings.TrimSpace(line) != "" {
				return nil, fmt.Errorf("e2e: swanctl --list-sas: line %q before any IKE SA", line)
			}
			continue
		}
		sa := &sas[len(sas)-1]
		if m := swanChildLine.FindStringSubmatch(line); m != nil {
			sa.Children = append(sa.Children, SwanChild{Name: m[1], State: m[2]})
			continue
		}
		if m := swanSPILine.FindStringSubmatch(line); m != nil && len(sa.Children) > 0 {
			c := &sa.Children[len(sa.Children)-1]
			if m[1] == "in" {
				c.SPIIn = m[2]
			} else {
				c.SPIOut = m[2]
			}
		}
	}
	return sas, nil
}
