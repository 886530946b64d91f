package policy

import (
	"fmt"
	"strconv"
)

// Source kinds, from lowest to highest precedence.
const (
	SourceDefault = "default"
	SourceFile    = "file"
	SourceEnv     = "env"
	SourceFlag    = "flag"
)

// Source tells where a configuration value came from.
type Source struct {
	Kind string // SourceDefault, SourceFile, SourceEnv or SourceFlag
	File string // config file (Kind == SourceFile), or the file a computed default was read from
	Line int    // 1-based line in File
	Name string // variable name (default, file, env) or flag name with dashes, e.g. "--ike-port" (flag)
}

// String returns "default", "/etc/metro/config.env:7", "env METRO_X" or
// "--ike-port".
func (s Source) String() string {
	switch s.Kind {
	case SourceFile:
		return s.File + ":" + strconv.Itoa(s.Line)
	case SourceEnv:
		return "env " + s.Name
	case SourceFlag:
		return s.Name
	case SourceDefault:
		if s.File != "" {
			return "default (from " + s.File + ")"
		}
	}
	return s.Kind
}

// describe names a value and where it came from, for messages:
// `env METRO_X="v"`, `/etc/metro/config.env:7: METRO_X="v"`, `--ike-port="v"`,
// `default METRO_X="v"`.
func (s Source) describe(name, value string) string {
	switch s.Kind {
	case SourceFile:
		return fmt.Sprintf("%s: %s=%q", s, name, value)
	case SourceFlag:
		return fmt.Sprintf("%s=%q", s.Name, value)
	case SourceDefault:
		if s.File != "" {
			return fmt.Sprintf("default %s=%q (from %s)", name, value, s.File)
		}
	}
	return fmt.Sprintf("%s %s=%q", s.Kind, name, value)
}

// ConfigError is a bad configuration value. Its message names the
// variable, the value and its source, e.g.
//
//	env METRO_ISAKMP_IKE_PORT="abc": not a port number (1-65535)
type ConfigError struct {
	Var    string
	Value  string
	Source Source
	Err    error
}

func (e *ConfigError) Error() string { return e.Source.describe(e.Var, e.Value) + ": " + e.Err.Error() }

func (e *ConfigError) Unwrap() error { return e.Err }
