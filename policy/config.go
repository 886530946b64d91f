package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
)

// DefaultConfigFile is read when --config is not given; it may be missing.
const DefaultConfigFile = "/etc/metro/config.env"

// Config is metro's configuration.
type Config struct {
	ParentHostname string
	IKEPort        uint16
	NATTPort       uint16
	CredsDir       string
	Domain         string   // "" = none; lower case, no trailing dot
	CRTServers     []string // short names
	CACert         string

	IKEProposals, ESPProposals string        // "" = built-in defaults; validated by the IKE package
	DPDInterval                time.Duration // 0 = dead peer detection off
	Start                      StartMode     // StartConnect or StartOnDemand
	IKELifetime                time.Duration
	ChildLifetime              time.Duration
	ChildLifetimeBytes         uint64 // 0 = no volume limit
	ChildLifetimePackets       uint64 // 0 = no packet limit
	KeyLog                     string // "" = off
	MSS                        int    // 0 = no clamping
	IKEFragmentSize            int    // bytes, or FragmentOff

	IKEAltPort, NATTAltPort uint16 // 0 = unset

	// Sources tells where each variable's value came from, by variable name.
	Sources map[string]Source
}

// LoadOptions are the inputs of Load.
type LoadOptions struct {
	ConfigFile     string // "" = DefaultConfigFile
	ConfigExplicit bool   // --config given: the file must exist

	Environ []string          // os.Environ()
	Flags   map[string]string // variable name -> value from command-line flags
	// FlagNames optionally maps a variable name to the flag that set it
	// (without dashes), for messages; by default Variable.Flag is used.
	FlagNames map[string]string

	// HostnameFiles are tried in order for the default host name; nil means
	// DefaultHostnameFiles (an empty, non-nil slice means none).
	HostnameFiles []string
}

func (o *LoadOptions) hostnameFiles() []string {
	if o.HostnameFiles == nil {
		return DefaultHostnameFiles
	}
	return o.HostnameFiles
}

func (o *LoadOptions) flagName(v *Variable) string {
	if n := o.FlagNames[v.Name]; n != "" {
		return "--" + strings.TrimLeft(n, "-")
	}
	if v.Flag != "" {
		return "--" + v.Flag
	}
	return "flag for " + v.Name
}

// setting is a raw value of a variable and where it came from.
type setting struct {
	value string
	src   Source
}

// Load builds the configuration. For each variable, the value comes from
// the first of: command-line flags (o.Flags), the environment (o.Environ),
// the config file, the default. Only the winning value is validated.
//
// A missing config file is fine unless o.ConfigExplicit. Bad values and
// malformed config file lines are errors naming the variable, the value and
// its source (see ConfigError); the first one, in the order of Variables, is
// returned.
//
// Warnings (not errors) are returned for: docker-era variables (one per
// name), unknown METRO_ variables (with a suggestion when the name is close
// to a known one), non-METRO_ names in the config file, a variable set twice
// in the config file, and METRO_KEYLOG being set.
func Load(o LoadOptions) (*Config, []string, error) {
	var warnings []string
	retiredSeen := map[string]bool{}
	unknown := func(name, where string) {
		if why, ok := retired[name]; ok {
			if !retiredSeen[name] {
				retiredSeen[name] = true
				warnings = append(warnings, fmt.Sprintf("%s: %s no longer applies (%s); ignored", where, name, why))
			}
			return
		}
		msg := fmt.Sprintf("%s: unknown variable %s, ignored", where, name)
		if s := suggest(name); s != "" {
			msg += " (did you mean " + s + "?)"
		}
		warnings = append(warnings, msg)
	}

	// Config file.
	fileVals := map[string]setting{}
	path := o.ConfigFile
	if path == "" {
		path = DefaultConfigFile
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		assigns, err := ParseEnvFile(path, data)
		if err != nil {
			return nil, warnings, err
		}
		for _, a := range assigns {
			where := fmt.Sprintf("%s:%d", path, a.Line)
			if !strings.HasPrefix(a.Key, VarPrefix) {
				warnings = append(warnings, fmt.Sprintf("%s: %s is not a %s variable, ignored", where, a.Key, VarPrefix))
				continue
			}
			if _, ok := lookupVariable(a.Key); !ok {
				unknown(a.Key, where)
				continue
			}
			if prev, ok := fileVals[a.Key]; ok {
				warnings = append(warnings, fmt.Sprintf("%s: %s is also set on line %d; line %d wins", where, a.Key, prev.src.Line, a.Line))
			}
			fileVals[a.Key] = setting{a.Value, Source{Kind: SourceFile, File: path, Line: a.Line, Name: a.Key}}
		}
	case errors.Is(err, fs.ErrNotExist) && !o.ConfigExplicit:
		// No config file: fine.
	default:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, warnings, fmt.Errorf("config file %s: %w", path, err)
	}

	// Environment: the first occurrence of a name wins, as with os.Getenv.
	envVals := map[string]setting{}
	var envUnknown []string
	for _, kv := range o.Environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, VarPrefix) {
			continue
		}
		if _, ok := lookupVariable(k); !ok {
			if !slices.Contains(envUnknown, k) {
				envUnknown = append(envUnknown, k)
			}
			continue
		}
		if _, dup := envVals[k]; !dup {
			envVals[k] = setting{v, Source{Kind: SourceEnv, Name: k}}
		}
	}
	slices.Sort(envUnknown)
	for _, k := range envUnknown {
		unknown(k, "env")
	}

	// Flags.
	flagNames := make([]string, 0, len(o.Flags))
	for k := range o.Flags {
		flagNames = append(flagNames, k)
	}
	slices.Sort(flagNames)
	for _, k := range flagNames {
		if _, ok := lookupVariable(k); !ok {
			return nil, warnings, fmt.Errorf("flag for unknown variable %s", k)
		}
	}

	c := &Config{Sources: make(map[string]Source, len(variables))}
	for i := range variables {
		v := &variables[i]
		var s setting
		if val, ok := o.Flags[v.Name]; ok {
			s = setting{val, Source{Kind: SourceFlag, Name: o.flagName(v)}}
		} else if e, ok := envVals[v.Name]; ok {
			s = e
		} else if f, ok := fileVals[v.Name]; ok {
			s = f
		} else {
			s = setting{v.Default, Source{Kind: SourceDefault, Name: v.Name}}
			if v.def != nil {
				s.value, s.src.File = v.def(c, &o)
			}
		}
		if err := v.parse(c, s.value); err != nil {
			return nil, warnings, &ConfigError{Var: v.Name, Value: s.value, Source: s.src, Err: err}
		}
		c.Sources[v.Name] = s.src
	}

	if err := c.checkPorts(); err != nil {
		return nil, warnings, err
	}
	if c.KeyLog != "" {
		warnings = append(warnings, fmt.Sprintf("%s: %s is set: IKE and ESP keys will be written to %s (for debugging only)",
			c.Sources[VarKeyLog], VarKeyLog, c.KeyLog))
	}
	return c, warnings, nil
}

// checkPorts rejects a UDP port used for two purposes.
func (c *Config) checkPorts() error {
	ports := []struct {
		name string
		port uint16
	}{{VarIKEPort, c.IKEPort}, {VarNATTPort, c.NATTPort}, {VarIKEAltPort, c.IKEAltPort}, {VarNATTAltPort, c.NATTAltPort}}
	for i, p := range ports {
		if p.port == 0 {
			continue
		}
		for _, q := range ports[:i] {
			if q.port == p.port {
				return &ConfigError{Var: p.name, Value: formatPort(p.port), Source: c.Sources[p.name],
					Err: fmt.Errorf("same port as %s (%s)", q.name, c.Sources[q.name])}
			}
		}
	}
	return nil
}

// KV is one line of the effective configuration.
type KV struct {
	Name, Value string
	Source      Source
}

// Effective lists every variable with its value and source, in the order of
// Variables, for metrod --check-config. The configuration holds no secrets
// (keys live in the credentials directory), so every value is shown.
func (c *Config) Effective() []KV {
	out := make([]KV, 0, len(variables))
	for i := range variables {
		v := &variables[i]
		out = append(out, KV{Name: v.Name, Value: v.format(c), Source: c.Sources[v.Name]})
	}
	return out
}
