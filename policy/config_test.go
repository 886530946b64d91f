package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testEnv is a sandbox: a creds dir, an optional config file, a host name file.
type testEnv struct {
	dir, creds, conf, hostFile string
}

func newTestEnv(t *testing.T, config string) *testEnv {
	t.Helper()
	e := &testEnv{dir: t.TempDir()}
	e.creds = filepath.Join(e.dir, "creds")
	e.conf = filepath.Join(e.dir, "config.env")
	e.hostFile = filepath.Join(e.dir, "hostname")
	if err := os.Mkdir(e.creds, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.hostFile, []byte("node1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if config != "" {
		config = strings.ReplaceAll(config, "$CREDS", e.creds)
		if err := os.WriteFile(e.conf, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// opts returns options with the sandbox's creds dir in the environment
// (unless env sets it) and the config file explicit.
func (e *testEnv) opts(env ...string) LoadOptions {
	for i := range env {
		env[i] = strings.NewReplacer("$CREDS", e.creds, "$CONF", e.conf).Replace(env[i])
	}
	hasCreds := slices.ContainsFunc(env, func(s string) bool { return strings.HasPrefix(s, VarCredsDir+"=") })
	if !hasCreds {
		env = append(env, VarCredsDir+"="+e.creds)
	}
	return LoadOptions{
		ConfigFile:     e.conf,
		ConfigExplicit: false,
		Environ:        append([]string{"PATH=/bin", "HOME=/root"}, env...),
		HostnameFiles:  []string{e.hostFile},
	}
}

func mustLoad(t *testing.T, o LoadOptions) (*Config, []string) {
	t.Helper()
	c, w, err := Load(o)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c, w
}

func TestLoadDefaults(t *testing.T) {
	e := newTestEnv(t, "")
	c, w := mustLoad(t, e.opts())
	if len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	want := Config{
		ParentHostname: "node1",
		IKEPort:        500,
		NATTPort:       4500,
		CredsDir:       e.creds,
		CACert:         filepath.Join(e.creds, "ca.crt"),
		DPDInterval:    30 * time.Second,
		IKELifetime:    4 * time.Hour,
		ChildLifetime:  time.Hour,
		MSS:            1200,
		Start:          StartConnect,
	}
	got := *c
	got.Sources = nil
	if got.ParentHostname != want.ParentHostname || got.IKEPort != want.IKEPort || got.NATTPort != want.NATTPort ||
		got.CredsDir != want.CredsDir || got.CACert != want.CACert || got.DPDInterval != want.DPDInterval ||
		got.IKELifetime != want.IKELifetime || got.ChildLifetime != want.ChildLifetime || got.MSS != want.MSS ||
		got.Domain != "" || got.CRTServers != nil || got.IKEProposals != "" || got.ESPProposals != "" ||
		got.KeyLog != "" || got.IKEAltPort != 0 || got.NATTAltPort != 0 || got.Start != want.Start {
		t.Errorf("config = %+v\nwant %+v", got, want)
	}
	if s := c.Sources[VarIKEPort]; s.Kind != SourceDefault || s.String() != "default" {
		t.Errorf("IKE port source = %+v", s)
	}
	if s := c.Sources[VarCredsDir]; s.Kind != SourceEnv || s.String() != "env METRO_CREDS_DIR" {
		t.Errorf("creds dir source = %+v (%s)", s, s)
	}
	if s := c.Sources[VarParentHostname]; s.Kind != SourceDefault || s.File != e.hostFile {
		t.Errorf("hostname source = %+v", s)
	}
	if len(c.Sources) != len(Variables()) {
		t.Errorf("%d sources for %d variables", len(c.Sources), len(Variables()))
	}
}

func TestLoadPrecedence(t *testing.T) {
	e := newTestEnv(t, `
# ports
METRO_ISAKMP_IKE_PORT=1001
METRO_IPSEC_NAT_TRAVERSAL_PORT=1002
METRO_MSS=1300
METRO_DPD_INTERVAL=10s
METRO_START=on-demand
`)
	o := e.opts("METRO_ISAKMP_IKE_PORT=2001", "METRO_IPSEC_NAT_TRAVERSAL_PORT=2002")
	o.Flags = map[string]string{VarIKEPort: "3001"}
	c, w := mustLoad(t, o)
	if len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	checks := []struct {
		name string
		got  any
		want any
		src  string
	}{
		{VarIKEPort, c.IKEPort, uint16(3001), "--ike-port"},                           // flag > env > file
		{VarNATTPort, c.NATTPort, uint16(2002), "env METRO_IPSEC_NAT_TRAVERSAL_PORT"}, // env > file
		{VarMSS, c.MSS, 1300, e.conf + ":5"},                                          // file > default
		{VarDPDInterval, c.DPDInterval, 10 * time.Second, e.conf + ":6"},
		{VarIKELifetime, c.IKELifetime, 4 * time.Hour, "default"},
		{VarStart, c.Start, StartOnDemand, e.conf + ":7"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
		if s := c.Sources[ch.name].String(); s != ch.src {
			t.Errorf("%s source = %q, want %q", ch.name, s, ch.src)
		}
	}

	// FlagNames overrides the flag named in sources and errors.
	o.FlagNames = map[string]string{VarIKEPort: "port"}
	o.Flags[VarIKEPort] = "x"
	_, _, err := Load(o)
	if err == nil || err.Error() != `--port="x": not a port number (1-65535)` {
		t.Errorf("err = %v", err)
	}
}

func TestLoadFileSyntax(t *testing.T) {
	e := newTestEnv(t, `# metro
export METRO_DOMAIN="Example.COM."   # trailing comment
METRO_CRT_SERVERS='crt1 crt2'
  METRO_IKE_PROPOSALS="aes256gcm16-prfsha384-ecp384 # not a comment"
METRO_KEYLOG=/tmp/keys # debugging
METRO_ISAKMP_IKE_ALTERNATIVE_PORT=
METRO_IPSEC_NAT_TRAVERSAL_ALTERNATIVE_PORT=14500
METRO_CREDS_DIR=$CREDS
`)
	o := e.opts()
	o.Environ = nil // creds dir from the file
	o.ConfigExplicit = true
	c, w := mustLoad(t, o)
	if c.Domain != "example.com" {
		t.Errorf("Domain = %q", c.Domain)
	}
	if !slices.Equal(c.CRTServers, []string{"crt1", "crt2"}) {
		t.Errorf("CRTServers = %q", c.CRTServers)
	}
	if c.IKEProposals != "aes256gcm16-prfsha384-ecp384 # not a comment" {
		t.Errorf("IKEProposals = %q", c.IKEProposals)
	}
	if c.KeyLog != "/tmp/keys" || c.IKEAltPort != 0 || c.NATTAltPort != 14500 || c.CredsDir != e.creds {
		t.Errorf("config = %+v", c)
	}
	if len(w) != 1 || !strings.Contains(w[0], "METRO_KEYLOG is set") || !strings.HasPrefix(w[0], e.conf+":5") {
		t.Errorf("warnings = %q, want the keylog warning", w)
	}
}

func TestLoadConfigFilePresence(t *testing.T) {
	e := newTestEnv(t, "")
	o := e.opts()
	// Missing default file: fine.
	o.ConfigFile = filepath.Join(e.dir, "absent.env")
	if _, _, err := Load(o); err != nil {
		t.Errorf("missing default file: %v", err)
	}
	// Missing explicit file: error naming it.
	o.ConfigExplicit = true
	_, _, err := Load(o)
	if err == nil || !strings.Contains(err.Error(), o.ConfigFile) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing explicit file: err = %v", err)
	}
	// A directory is not a config file, even by default.
	o.ConfigFile, o.ConfigExplicit = e.dir, false
	if _, _, err := Load(o); err == nil || !strings.Contains(err.Error(), e.dir) {
		t.Errorf("directory as config file: err = %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name   string
		config string
		env    []string
		flags  map[string]string
		want   string // exact message; "$CONF" is the config file, "$CREDS" the creds dir
	}{
		{"env port not a number", "", []string{"METRO_ISAKMP_IKE_PORT=abc"}, nil,
			`env METRO_ISAKMP_IKE_PORT="abc": not a port number (1-65535)`},
		{"file port out of range", "# c\n\nMETRO_A_DUMMY_LINE_IS_NOT_NEEDED=1\n\n\n\nMETRO_ISAKMP_IKE_PORT=70000\n", nil, nil,
			`$CONF:7: METRO_ISAKMP_IKE_PORT="70000": not a port number (1-65535)`},
		{"port zero", "", []string{"METRO_IPSEC_NAT_TRAVERSAL_PORT=0"}, nil,
			`env METRO_IPSEC_NAT_TRAVERSAL_PORT="0": not a port number (1-65535)`},
		{"port empty", "", []string{"METRO_ISAKMP_IKE_PORT="}, nil,
			`env METRO_ISAKMP_IKE_PORT="": not a port number (1-65535)`},
		{"port signed", "", nil, map[string]string{VarIKEPort: "+500"},
			`--ike-port="+500": not a port number (1-65535)`},
		{"alt port bad", "METRO_ISAKMP_IKE_ALTERNATIVE_PORT=65536\n", nil, nil,
			`$CONF:1: METRO_ISAKMP_IKE_ALTERNATIVE_PORT="65536": not a port number (1-65535)`},
		{"duration", "", []string{"METRO_DPD_INTERVAL=30"}, nil,
			`env METRO_DPD_INTERVAL="30": not a duration (e.g. 90s, 30m, 4h)`},
		{"duration negative", "", []string{"METRO_DPD_INTERVAL=-1s"}, nil,
			`env METRO_DPD_INTERVAL="-1s": must be 0 (off) or at least 1s`},
		{"lifetime too short", "METRO_CHILD_LIFETIME=1s\n", nil, nil,
			`$CONF:1: METRO_CHILD_LIFETIME="1s": must be at least 10s`},
		{"lifetime zero", "", []string{"METRO_IKE_LIFETIME=0"}, nil,
			`env METRO_IKE_LIFETIME="0": must be at least 10s`},
		{"start mode unknown", "", []string{"METRO_START=trap"}, nil,
			`env METRO_START="trap": not a start mode (connect or on-demand)`},
		{"start mode case", "METRO_START=On-Demand\n", nil, nil,
			`$CONF:1: METRO_START="On-Demand": not a start mode (connect or on-demand)`},
		{"start mode empty", "", []string{"METRO_START="}, nil,
			`env METRO_START="": not a start mode (connect or on-demand)`},
		{"mss low", "", []string{"METRO_MSS=535"}, nil,
			`env METRO_MSS="535": not an MSS (0 or 536-65495)`},
		{"mss high", "", []string{"METRO_MSS=65496"}, nil,
			`env METRO_MSS="65496": not an MSS (0 or 536-65495)`},
		{"creds dir missing", "", []string{"METRO_CREDS_DIR=$CREDS/nope"}, nil,
			`env METRO_CREDS_DIR="$CREDS/nope": no such directory`},
		{"creds dir is a file", "# exists\n", []string{"METRO_CREDS_DIR=$CONF"}, nil,
			`env METRO_CREDS_DIR="$CONF": not a directory`},
		{"domain", "", []string{"METRO_DOMAIN=exa_mple.com"}, nil,
			`env METRO_DOMAIN="exa_mple.com": not a DNS domain: label "exa_mple" contains '_'`},
		{"domain empty label", "", []string{"METRO_DOMAIN=a..b"}, nil,
			`env METRO_DOMAIN="a..b": not a DNS domain: empty label`},
		{"crt server with dot", "", []string{"METRO_CRT_SERVERS=crt1 crt2.example.com"}, nil,
			`env METRO_CRT_SERVERS="crt1 crt2.example.com": "crt2.example.com": a short name without dots is expected`},
		{"hostname", "", []string{"METRO_PARENT_HOSTNAME=bad host"}, nil,
			`env METRO_PARENT_HOSTNAME="bad host": not a host name: label "bad host" contains ' '`},
		{"same ports", "", []string{"METRO_IPSEC_NAT_TRAVERSAL_PORT=500"}, nil,
			`env METRO_IPSEC_NAT_TRAVERSAL_PORT="500": same port as METRO_ISAKMP_IKE_PORT (default)`},
		{"malformed line", "METRO_MSS=1300\nthis is not an assignment\n", nil, nil,
			`$CONF:2: malformed line: expected KEY=VALUE`},
		{"unknown flag variable", "", nil, map[string]string{"METRO_NOPE": "1"},
			`flag for unknown variable METRO_NOPE`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, tt.config)
			o := e.opts(tt.env...)
			o.Flags = tt.flags
			_, _, err := Load(o)
			want := strings.NewReplacer("$CONF", e.conf, "$CREDS", e.creds).Replace(tt.want)
			if err == nil || err.Error() != want {
				t.Errorf("err = %v\nwant  %s", err, want)
			}
		})
	}
}

func TestLoadValueOverriddenIsNotValidated(t *testing.T) {
	e := newTestEnv(t, "METRO_ISAKMP_IKE_PORT=bad\n")
	c, _ := mustLoad(t, e.opts("METRO_ISAKMP_IKE_PORT=600"))
	if c.IKEPort != 600 {
		t.Errorf("IKEPort = %d", c.IKEPort)
	}
}

func TestLoadConfigErrorType(t *testing.T) {
	e := newTestEnv(t, "")
	_, _, err := Load(e.opts("METRO_MSS=x"))
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Var != VarMSS || ce.Value != "x" || ce.Source.Kind != SourceEnv {
		t.Errorf("err = %#v", err)
	}
}

func TestLoadWarnings(t *testing.T) {
	e := newTestEnv(t, `METRO_DOCKER_IMAGE=metro:latest
METRO_DIR=/opt/metro
PATH=/usr/bin
METRO_ISAKMP_IKE_PROT=501
METRO_MSS=1300
METRO_MSS=1400
`)
	o := e.opts(
		"METRO_DOCKER_IMAGE=again",          // second docker-era mention: no second warning
		"METRO_DOCKER_CONTAINER=metro",      // docker-era
		"METRO_CREDSDIR=/x",                 // typo
		"METRO_IKE_PORT=1",                  // suffix of one known name
		"METRO_COMPLETELY_DIFFERENT_NAME=1", // no suggestion
		"NOT_METRO=1",                       // not ours: silent
	)
	c, w := mustLoad(t, o)
	if c.MSS != 1400 {
		t.Errorf("MSS = %d, want the last assignment", c.MSS)
	}
	want := []string{
		e.conf + ":1: METRO_DOCKER_IMAGE no longer applies",
		e.conf + ":2: METRO_DIR no longer applies",
		e.conf + ":3: PATH is not a METRO_ variable, ignored",
		e.conf + ":4: unknown variable METRO_ISAKMP_IKE_PROT, ignored (did you mean METRO_ISAKMP_IKE_PORT?)",
		e.conf + ":6: METRO_MSS is also set on line 5; line 6 wins",
		"env: unknown variable METRO_COMPLETELY_DIFFERENT_NAME, ignored",
		"env: unknown variable METRO_CREDSDIR, ignored (did you mean METRO_CREDS_DIR?)",
		"env: METRO_DOCKER_CONTAINER no longer applies",
		"env: unknown variable METRO_IKE_PORT, ignored (did you mean METRO_ISAKMP_IKE_PORT?)",
	}
	if len(w) != len(want) {
		t.Fatalf("warnings:\n%s\nwant %d", strings.Join(w, "\n"), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(w[i], want[i]) {
			t.Errorf("warning %d = %q\nwant prefix %q", i, w[i], want[i])
		}
	}
	if strings.Contains(w[5], "did you mean") {
		t.Errorf("unexpected suggestion: %q", w[5])
	}
}

func TestHostnameFallback(t *testing.T) {
	dir := t.TempDir()
	parent := filepath.Join(dir, "parent_hostname")
	host := filepath.Join(dir, "hostname")
	creds := t.TempDir()
	load := func() (*Config, error) {
		c, _, err := Load(LoadOptions{
			ConfigFile:    filepath.Join(dir, "none.env"),
			Environ:       []string{"METRO_CREDS_DIR=" + creds},
			HostnameFiles: []string{parent, host},
		})
		return c, err
	}
	kernel, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}

	// Neither file: the kernel's name.
	c, err := load()
	if err != nil || c.ParentHostname != kernel || c.Sources[VarParentHostname].File != "" {
		t.Fatalf("no files: %v %+v", err, c)
	}
	// /etc/hostname, with comments and blank lines.
	if err := os.WriteFile(host, []byte("# comment\n\n  child.example.com  \nignored\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err = load()
	if err != nil || c.ParentHostname != "child.example.com" || c.Sources[VarParentHostname].File != host {
		t.Fatalf("hostname file: %v %+v", err, c)
	}
	// An empty parent_hostname is skipped.
	if err := os.WriteFile(parent, []byte("\n \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err = load(); err != nil || c.ParentHostname != "child.example.com" {
		t.Fatalf("empty parent file: %v %+v", err, c)
	}
	// parent_hostname wins.
	if err := os.WriteFile(parent, []byte("parent-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err = load()
	if err != nil || c.ParentHostname != "parent-1" || c.Sources[VarParentHostname].String() != "default (from "+parent+")" {
		t.Fatalf("parent file: %v %+v", err, c)
	}
	// An invalid name in the file is an error naming the file.
	if err := os.WriteFile(parent, []byte("bad/name\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err = load(); err == nil || !strings.Contains(err.Error(), parent) || !strings.Contains(err.Error(), VarParentHostname) {
		t.Fatalf("bad name in file: err = %v", err)
	}
}

func TestEffectiveAndVariables(t *testing.T) {
	e := newTestEnv(t, "METRO_CRT_SERVERS=a b\n")
	o := e.opts("METRO_IPSEC_NAT_TRAVERSAL_ALTERNATIVE_PORT=14500")
	o.Flags = map[string]string{VarMSS: "0"}
	c, _ := mustLoad(t, o)
	kvs := c.Effective()
	vars := Variables()
	if len(kvs) != len(vars) {
		t.Fatalf("%d KVs for %d variables", len(kvs), len(vars))
	}
	got := map[string]KV{}
	for i, kv := range kvs {
		if kv.Name != vars[i].Name {
			t.Errorf("KV %d is %s, want %s (table order)", i, kv.Name, vars[i].Name)
		}
		got[kv.Name] = kv
	}
	checks := map[string][2]string{ // value, source
		VarIKEPort:     {"500", "default"},
		VarCRTServers:  {"a b", e.conf + ":1"},
		VarNATTAltPort: {"14500", "env " + VarNATTAltPort},
		VarIKEAltPort:  {"", "default"},
		VarMSS:         {"0", "--mss"},
		VarIKELifetime: {"4h0m0s", "default"},
		VarCACert:      {filepath.Join(e.creds, "ca.crt"), "default"},
	}
	for name, want := range checks {
		if kv := got[name]; kv.Value != want[0] || kv.Source.String() != want[1] {
			t.Errorf("%s = %q from %q, want %q from %q", name, kv.Value, kv.Source, want[0], want[1])
		}
	}

	// The table documents every variable and is a copy.
	seen := map[string]bool{}
	for _, v := range vars {
		if !strings.HasPrefix(v.Name, VarPrefix) || v.Doc == "" || v.Flag == "" || seen[v.Name] || seen["--"+v.Flag] {
			t.Errorf("bad table entry %+v", v)
		}
		seen[v.Name], seen["--"+v.Flag] = true, true
		if _, ok := retired[v.Name]; ok {
			t.Errorf("%s is both current and retired", v.Name)
		}
	}
	vars[0].Name = "changed"
	if Variables()[0].Name == "changed" {
		t.Error("Variables returns the table itself")
	}
	// Every documented static default parses (the computed ones are tested above).
	for _, v := range Variables() {
		if v.def != nil || v.Default == "" {
			continue
		}
		var c Config
		if err := v.parse(&c, v.Default); err != nil && v.Name != VarCredsDir {
			t.Errorf("default of %s %q: %v", v.Name, v.Default, err)
		}
	}
}

func TestSuggest(t *testing.T) {
	tests := map[string]string{
		"METRO_ISAKMP_IKE_PROT":  VarIKEPort,
		"METRO_CREDS_DIRS":       VarCredsDir,
		"METRO_DOMIAN":           VarDomain,
		"METRO_KEY_LOG":          VarKeyLog,
		"METRO_IKE_PORT":         VarIKEPort,
		"METRO_PORT":             "", // ambiguous suffix
		"METRO_SOMETHING_ELSE_X": "",
		"METRO_":                 "",
	}
	for in, want := range tests {
		if got := suggest(in); got != want {
			t.Errorf("suggest(%s) = %q, want %q", in, got, want)
		}
	}
	if d := editDistance("kitten", "sitting"); d != 3 {
		t.Errorf("editDistance = %d", d)
	}
}

func TestLoadUnreadableCredsDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any directory")
	}
	e := newTestEnv(t, "")
	if err := os.Chmod(e.creds, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(e.creds, 0o700)
	_, _, err := Load(e.opts())
	if err == nil || !strings.Contains(err.Error(), `env METRO_CREDS_DIR="`+e.creds+`": unreadable directory`) {
		t.Errorf("err = %v", err)
	}
}
