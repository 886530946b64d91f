package policy

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Variable describes one configuration variable. The table returned by
// Variables is the single description of metro's configuration: Load
// parses with it, and documentation (README, metrod --check-config) is
// generated from it.
type Variable struct {
	Name    string // environment / config file name, e.g. "METRO_ISAKMP_IKE_PORT"
	Flag    string // conventional command-line flag, without dashes, e.g. "ike-port"
	Default string // the default as documented; "" means unset
	Doc     string // one or two sentences

	// parse validates value and stores it in c. Values are never
	// expanded; an empty value is passed through (optional variables
	// treat it as unset, the others reject it).
	parse func(c *Config, value string) error
	// def computes the default when it depends on the host or on
	// variables earlier in the table; nil means Default.
	def func(c *Config, o *LoadOptions) (value string, from string)
	// format renders the parsed value for Effective.
	format func(c *Config) string
}

// Variable names.
const (
	VarParentHostname = "METRO_PARENT_HOSTNAME"
	VarIKEPort        = "METRO_ISAKMP_IKE_PORT"
	VarNATTPort       = "METRO_IPSEC_NAT_TRAVERSAL_PORT"
	VarCredsDir       = "METRO_CREDS_DIR"
	VarDomain         = "METRO_DOMAIN"
	VarCRTServers     = "METRO_CRT_SERVERS"
	VarCACert         = "METRO_CA_CERT"
	VarIKEProposals   = "METRO_IKE_PROPOSALS"
	VarESPProposals   = "METRO_ESP_PROPOSALS"
	VarDPDInterval    = "METRO_DPD_INTERVAL"
	VarStart          = "METRO_START"
	VarIKELifetime    = "METRO_IKE_LIFETIME"
	VarChildLifetime  = "METRO_CHILD_LIFETIME"
	VarChildBytes     = "METRO_CHILD_LIFETIME_BYTES"
	VarChildPackets   = "METRO_CHILD_LIFETIME_PACKETS"
	VarKeyLog         = "METRO_KEYLOG"
	VarMSS            = "METRO_MSS"
	VarFragmentSize   = "METRO_IKE_FRAGMENT_SIZE"
	VarIKEAltPort     = "METRO_ISAKMP_IKE_ALTERNATIVE_PORT"
	VarNATTAltPort    = "METRO_IPSEC_NAT_TRAVERSAL_ALTERNATIVE_PORT"
)

// VarPrefix is the prefix of every metro variable.
const VarPrefix = "METRO_"

// Limits of METRO_MSS (0 disables MSS clamping).
const (
	MinMSS = 536   // RFC 879 / RFC 1122 default MSS
	MaxMSS = 65495 // 65535 - 20 (IPv4) - 20 (TCP)
)

// Limits of METRO_IKE_FRAGMENT_SIZE, the largest IKE message sent whole
// once both hosts support IKE fragmentation (RFC 7383). The default is an
// IPv6 minimum-MTU packet (1280) less the IPv6 and UDP headers, as
// ike.DefaultFragmentSize; the minimum is the IPv4 datagram every host
// must accept (576, RFC 791) less the IPv4 and UDP headers; the maximum,
// the largest UDP payload over IPv4.
const (
	DefaultFragmentSize = 1280 - 40 - 8 // 1232
	MinFragmentSize     = 576 - 20 - 8  // 548
	MaxFragmentSize     = 65535 - 20 - 8
	FragmentOff         = -1 // Config.IKEFragmentSize: no fragmentation
)

// Lower bounds of the volume limits of a CHILD_SA (0 = no limit): below
// them a mistyped value (bytes for megabytes) would rekey every few
// packets.
const (
	MinLifetimeBytes   = 1 << 20
	MinLifetimePackets = 1000
)

// Lower bounds of the durations.
const (
	MinLifetime    = 10 * time.Second
	MinDPDInterval = time.Second
)

// StartMode says when metrod negotiates with a peer (METRO_START).
type StartMode string

// Start modes.
const (
	// StartConnect negotiates with every peer at start and again after
	// any loss of its SAs (failure, DELETE, dead peer, hard expiry).
	StartConnect StartMode = "connect"
	// StartOnDemand negotiates only when traffic waits for an SA (kernel
	// ACQUIRE) or the peer initiates, like strongSwan's start_action=trap.
	StartOnDemand StartMode = "on-demand"
)

// retired are the variables of the docker-based metro; they are accepted
// with a warning.
var retired = map[string]string{
	"METRO_DOCKER_IMAGE":     "metro no longer runs in a docker container",
	"METRO_DOCKER_CONTAINER": "metro no longer runs in a docker container",
	"METRO_DIR":              "metro is installed as a system package; its files are not under a METRO_DIR",
}

var variables = []Variable{
	{
		Name:    VarParentHostname,
		Flag:    "hostname",
		Default: "contents of /etc/parent_hostname, else of /etc/hostname, else the kernel's host name",
		Doc:     "Host name of this machine, used as its identity (e.g. in certificates).",
		parse: func(c *Config, v string) error {
			if err := checkHostname(v); err != nil {
				return err
			}
			c.ParentHostname = v
			return nil
		},
		def:    func(_ *Config, o *LoadOptions) (string, string) { return defaultHostname(o.hostnameFiles()) },
		format: func(c *Config) string { return c.ParentHostname },
	},
	{
		Name:    VarIKEPort,
		Flag:    "ike-port",
		Default: "500",
		Doc:     "UDP port of IKE (ISAKMP).",
		parse:   portParser(func(c *Config) *uint16 { return &c.IKEPort }, false),
		format:  func(c *Config) string { return formatPort(c.IKEPort) },
	},
	{
		Name:    VarNATTPort,
		Flag:    "natt-port",
		Default: "4500",
		Doc:     "UDP port of IKE and UDP-encapsulated ESP once NAT traversal is in use (RFC 3948).",
		parse:   portParser(func(c *Config) *uint16 { return &c.NATTPort }, false),
		format:  func(c *Config) string { return formatPort(c.NATTPort) },
	},
	{
		Name:    VarCredsDir,
		Flag:    "creds-dir",
		Default: "/etc/metro",
		Doc:     "Directory of the credentials: *.psk pre-shared key files, ca.crt, this host's certificate and key. Must exist and be readable.",
		parse: func(c *Config, v string) error {
			if err := checkDir(v); err != nil {
				return err
			}
			c.CredsDir = v
			return nil
		},
		format: func(c *Config) string { return c.CredsDir },
	},
	{
		Name: VarDomain,
		Flag: "domain",
		Doc:  "DNS domain of the hosts (optional), e.g. example.com.",
		parse: func(c *Config, v string) error {
			if v == "" {
				c.Domain = ""
				return nil
			}
			d, err := checkDomain(v)
			if err != nil {
				return err
			}
			c.Domain = d
			return nil
		},
		format: func(c *Config) string { return c.Domain },
	},
	{
		Name: VarCRTServers,
		Flag: "crt-servers",
		Doc:  "Space-separated short names (without dots) of the certificate servers (optional).",
		parse: func(c *Config, v string) error {
			names := strings.Fields(v)
			for _, n := range names {
				if strings.Contains(n, ".") {
					return fmt.Errorf("%q: a short name without dots is expected", n)
				}
				if err := checkLabel(n, false); err != nil {
					return fmt.Errorf("%q: %w", n, err)
				}
			}
			if len(names) == 0 {
				names = nil
			}
			c.CRTServers = names
			return nil
		},
		format: func(c *Config) string { return strings.Join(c.CRTServers, " ") },
	},
	{
		Name:    VarCACert,
		Flag:    "ca-cert",
		Default: "$METRO_CREDS_DIR/ca.crt",
		Doc:     "File of the certificate authority that signs the hosts' certificates.",
		parse: func(c *Config, v string) error {
			if v == "" {
				return errors.New("empty file name")
			}
			c.CACert = v
			return nil
		},
		def:    func(c *Config, _ *LoadOptions) (string, string) { return filepath.Join(c.CredsDir, "ca.crt"), "" },
		format: func(c *Config) string { return c.CACert },
	},
	{
		Name:   VarIKEProposals,
		Flag:   "ike-proposals",
		Doc:    "IKE SA proposals; empty means the built-in defaults.",
		parse:  func(c *Config, v string) error { c.IKEProposals = strings.TrimSpace(v); return nil },
		format: func(c *Config) string { return c.IKEProposals },
	},
	{
		Name:   VarESPProposals,
		Flag:   "esp-proposals",
		Doc:    "ESP (child SA) proposals; empty means the built-in defaults.",
		parse:  func(c *Config, v string) error { c.ESPProposals = strings.TrimSpace(v); return nil },
		format: func(c *Config) string { return c.ESPProposals },
	},
	{
		Name:    VarDPDInterval,
		Flag:    "dpd-interval",
		Default: "30s",
		Doc:     "Dead peer detection: idle time after which a peer is probed. 0 disables it.",
		parse:   durationParser(func(c *Config) *time.Duration { return &c.DPDInterval }, MinDPDInterval, true),
		format:  func(c *Config) string { return c.DPDInterval.String() },
	},
	{
		Name:    VarStart,
		Flag:    "start",
		Default: string(StartConnect),
		Doc: "When to negotiate with a peer: connect (at start, and again whenever its SAs are lost) or " +
			"on-demand (only when traffic waits for an SA, or when the peer initiates; the first packet waits " +
			"for the negotiation). Policies are the same in both: traffic is never in clear.",
		parse: func(c *Config, v string) error {
			switch m := StartMode(v); m {
			case StartConnect, StartOnDemand:
				c.Start = m
				return nil
			}
			return fmt.Errorf("not a start mode (%s or %s)", StartConnect, StartOnDemand)
		},
		format: func(c *Config) string { return string(c.Start) },
	},
	{
		Name:    VarIKELifetime,
		Flag:    "ike-lifetime",
		Default: "4h",
		Doc:     "Lifetime of an IKE SA before it is rekeyed.",
		parse:   durationParser(func(c *Config) *time.Duration { return &c.IKELifetime }, MinLifetime, false),
		format:  func(c *Config) string { return c.IKELifetime.String() },
	},
	{
		Name:    VarChildLifetime,
		Flag:    "child-lifetime",
		Default: "1h",
		Doc:     "Lifetime of an ESP SA pair (child SA) before it is rekeyed.",
		parse:   durationParser(func(c *Config) *time.Duration { return &c.ChildLifetime }, MinLifetime, false),
		format:  func(c *Config) string { return c.ChildLifetime.String() },
	},
	{
		Name: VarChildBytes,
		Flag: "child-lifetime-bytes",
		Doc: "Volume limit of an ESP SA pair (child SA): it is rekeyed before one of its states carries this many bytes " +
			"(as the kernel counts them). K, M, G or T for powers of 1024 (e.g. 500M, 4G); at least 1M. Empty or 0: no volume limit.",
		parse:  volumeParser(func(c *Config) *uint64 { return &c.ChildLifetimeBytes }, true, MinLifetimeBytes),
		format: func(c *Config) string { return formatBytes(c.ChildLifetimeBytes) },
	},
	{
		Name:  VarChildPackets,
		Flag:  "child-lifetime-packets",
		Doc:   "Like " + VarChildBytes + ", in packets: a plain number, at least 1000. Empty or 0: no packet limit.",
		parse: volumeParser(func(c *Config) *uint64 { return &c.ChildLifetimePackets }, false, MinLifetimePackets),
		format: func(c *Config) string {
			if c.ChildLifetimePackets == 0 {
				return ""
			}
			return strconv.FormatUint(c.ChildLifetimePackets, 10)
		},
	},
	{
		Name:   VarKeyLog,
		Flag:   "keylog",
		Doc:    "File to which IKE and ESP keys are appended, for decrypting captures (debugging only). Empty: off.",
		parse:  func(c *Config, v string) error { c.KeyLog = v; return nil },
		format: func(c *Config) string { return c.KeyLog },
	},
	{
		Name:    VarMSS,
		Flag:    "mss",
		Default: "1200",
		Doc:     fmt.Sprintf("TCP MSS clamped on protected traffic, to leave room for ESP headers: %d..%d, or 0 to disable clamping.", MinMSS, MaxMSS),
		parse: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || (n != 0 && (n < MinMSS || n > MaxMSS)) {
				return fmt.Errorf("not an MSS (0 or %d-%d)", MinMSS, MaxMSS)
			}
			c.MSS = n
			return nil
		},
		format: func(c *Config) string { return strconv.Itoa(c.MSS) },
	},
	{
		Name:    VarFragmentSize,
		Flag:    "ike-fragment-size",
		Default: strconv.Itoa(DefaultFragmentSize),
		Doc: fmt.Sprintf("Largest IKE message sent whole once both hosts support IKE fragmentation (RFC 7383): "+
			"%d..%d bytes (0 or empty: %d), or off (also -1) to neither announce nor use fragmentation.",
			MinFragmentSize, MaxFragmentSize, DefaultFragmentSize),
		parse: func(c *Config, v string) error {
			switch strings.ToLower(v) {
			case "", "0":
				c.IKEFragmentSize = DefaultFragmentSize
				return nil
			case "off", "-1":
				c.IKEFragmentSize = FragmentOff
				return nil
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < MinFragmentSize || n > MaxFragmentSize {
				return fmt.Errorf("not a fragment size (%d-%d bytes, 0 for the default %d, off or -1 for no fragmentation)",
					MinFragmentSize, MaxFragmentSize, DefaultFragmentSize)
			}
			c.IKEFragmentSize = n
			return nil
		},
		format: func(c *Config) string {
			if c.IKEFragmentSize == FragmentOff {
				return "off"
			}
			return strconv.Itoa(c.IKEFragmentSize)
		},
	},
	{
		Name:   VarIKEAltPort,
		Flag:   "ike-alt-port",
		Doc:    "Additional UDP port on which IKE is accepted (optional).",
		parse:  portParser(func(c *Config) *uint16 { return &c.IKEAltPort }, true),
		format: func(c *Config) string { return formatPort(c.IKEAltPort) },
	},
	{
		Name:   VarNATTAltPort,
		Flag:   "natt-alt-port",
		Doc:    "Additional UDP port on which NAT-traversal IKE and ESP are accepted (optional).",
		parse:  portParser(func(c *Config) *uint16 { return &c.NATTAltPort }, true),
		format: func(c *Config) string { return formatPort(c.NATTAltPort) },
	},
}

// Variables returns the table of configuration variables, in the order
// they are documented and evaluated.
func Variables() []Variable { return append([]Variable(nil), variables...) }

func lookupVariable(name string) (*Variable, bool) {
	for i := range variables {
		if variables[i].Name == name {
			return &variables[i], true
		}
	}
	return nil, false
}

var errNotPort = errors.New("not a port number (1-65535)")

// ParsePort parses a UDP port number, 1..65535.
func ParsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, errNotPort
	}
	return uint16(n), nil
}

func portParser(field func(*Config) *uint16, optional bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		if optional && v == "" {
			*field(c) = 0
			return nil
		}
		p, err := ParsePort(v)
		if err != nil {
			return err
		}
		*field(c) = p
		return nil
	}
}

func formatPort(p uint16) string {
	if p == 0 {
		return ""
	}
	return strconv.Itoa(int(p))
}

func durationParser(field func(*Config) *time.Duration, minimum time.Duration, zeroOK bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return errors.New("not a duration (e.g. 90s, 30m, 4h)")
		}
		if !(zeroOK && d == 0) && d < minimum {
			if zeroOK {
				return fmt.Errorf("must be 0 (off) or at least %v", minimum)
			}
			return fmt.Errorf("must be at least %v", minimum)
		}
		*field(c) = d
		return nil
	}
}

// byteUnits are the suffixes of byte counts: powers of 1024.
var byteUnits = []struct {
	suffix string
	shift  uint
}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}}

// ParseBytes parses a byte count: a decimal number, optionally followed
// by K, M, G or T (either case) for powers of 1024: "4G" is 4<<30.
func ParseBytes(s string) (uint64, error) {
	bad := errors.New("not a byte count (a number, optionally with K, M, G or T for powers of 1024, e.g. 500M)")
	num, shift := s, uint(0)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(strings.ToUpper(s), u.suffix); ok {
			num, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errors.New("byte count too large")
		}
		return 0, bad
	}
	if n > ^uint64(0)>>shift {
		return 0, errors.New("byte count too large")
	}
	return n << shift, nil
}

// formatBytes renders a byte count with the largest suffix that keeps it
// exact ("" for 0, no limit).
func formatBytes(n uint64) string {
	if n == 0 {
		return ""
	}
	for _, u := range byteUnits {
		if n%(1<<u.shift) == 0 {
			return strconv.FormatUint(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatUint(n, 10)
}

// volumeParser parses an optional volume limit (empty or 0: none): a byte
// count with units, or a plain number, at least minimum.
func volumeParser(field func(*Config) *uint64, bytes bool, minimum uint64) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" {
			*field(c) = 0
			return nil
		}
		var (
			n   uint64
			err error
		)
		if bytes {
			n, err = ParseBytes(v)
		} else if n, err = strconv.ParseUint(v, 10, 64); err != nil {
			err = errors.New("not a number of packets")
		}
		if err != nil {
			return err
		}
		if n != 0 && n < minimum {
			if bytes {
				return fmt.Errorf("must be 0 (no limit) or at least %s", formatBytes(minimum))
			}
			return fmt.Errorf("must be 0 (no limit) or at least %d", minimum)
		}
		*field(c) = n
		return nil
	}
}

// checkDir checks that dir is a directory this process can list.
func checkDir(dir string) error {
	if dir == "" {
		return errors.New("empty directory name")
	}
	f, err := os.Open(dir)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		if errors.Is(err, os.ErrNotExist) {
			return errors.New("no such directory")
		}
		return fmt.Errorf("unreadable directory: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("unreadable directory: %w", err)
	}
	if !fi.IsDir() {
		return errors.New("not a directory")
	}
	if _, err := f.ReadDir(1); err != nil && !errors.Is(err, io.EOF) {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("unreadable directory: %w", err)
	}
	return nil
}

// checkDomain validates a DNS domain name and returns it in canonical form
// (lower case, without a trailing dot).
func checkDomain(s string) (string, error) {
	d := strings.ToLower(strings.TrimSuffix(s, "."))
	if d == "" {
		return "", errors.New("not a DNS domain: empty")
	}
	if len(d) > 253 {
		return "", errors.New("not a DNS domain: longer than 253 characters")
	}
	for _, label := range strings.Split(d, ".") {
		if err := checkLabel(label, false); err != nil {
			return "", fmt.Errorf("not a DNS domain: %w", err)
		}
	}
	return d, nil
}

// checkHostname validates a host name: like a domain name, but a label may
// also contain '_' (seen in the wild) and a trailing dot is not allowed.
func checkHostname(s string) error {
	if s == "" {
		return errors.New("not a host name: empty")
	}
	if len(s) > 253 {
		return errors.New("not a host name: longer than 253 characters")
	}
	for _, label := range strings.Split(s, ".") {
		if err := checkLabel(label, true); err != nil {
			return fmt.Errorf("not a host name: %w", err)
		}
	}
	return nil
}

// checkLabel validates one DNS label (RFC 1123: letters, digits, inner hyphens).
func checkLabel(l string, underscore bool) error {
	switch {
	case l == "":
		return errors.New("empty label")
	case len(l) > 63:
		return fmt.Errorf("label %q longer than 63 characters", l)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("label %q starts or ends with '-'", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || underscore && c == '_'
		if !ok {
			return fmt.Errorf("label %q contains %q", l, c)
		}
	}
	return nil
}
