package policy

import (
	"errors"
	"strings"
	"testing"
)

// TestIKEFragmentSize: METRO_IKE_FRAGMENT_SIZE takes a size in bytes
// within bounds, 0/empty/unset for the default, off or -1 for none; other
// values are errors naming the variable.
func TestIKEFragmentSize(t *testing.T) {
	e := newTestEnv(t, "")
	for _, tc := range []struct {
		value string // "-" = unset
		want  int
		shown string
	}{
		{"-", 1232, "1232"},
		{"", 1232, "1232"},
		{"0", 1232, "1232"},
		{"576", 576, "576"},
		{"548", 548, "548"},
		{"65507", 65507, "65507"},
		{"off", FragmentOff, "off"},
		{"OFF", FragmentOff, "off"},
		{"-1", FragmentOff, "off"},
	} {
		var env []string
		if tc.value != "-" {
			env = append(env, VarFragmentSize+"="+tc.value)
		}
		c, _ := mustLoad(t, e.opts(env...))
		if c.IKEFragmentSize != tc.want {
			t.Errorf("%q: IKEFragmentSize = %d, want %d", tc.value, c.IKEFragmentSize, tc.want)
		}
		if got := effective(c, VarFragmentSize); got != tc.shown {
			t.Errorf("%q: shown as %q, want %q", tc.value, got, tc.shown)
		}
	}
	for _, bad := range []string{"547", "65508", "-2", "1k", "on", "12 34", "1232.5"} {
		_, _, err := Load(e.opts(VarFragmentSize + "=" + bad))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Var != VarFragmentSize || ce.Value != bad {
			t.Errorf("%q: err = %v, want a ConfigError of %s", bad, err, VarFragmentSize)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, VarFragmentSize) || !strings.Contains(msg, "548-65507") {
			t.Errorf("%q: message %q does not name the variable and the bounds", bad, msg)
		}
	}
}

// TestChildLifetimeVolume: the byte limit takes K/M/G/T as powers of
// 1024, the packet limit plain numbers; both are optional, have minimums
// and reject garbage naming the variable.
func TestChildLifetimeVolume(t *testing.T) {
	e := newTestEnv(t, "")
	c, _ := mustLoad(t, e.opts())
	if c.ChildLifetimeBytes != 0 || c.ChildLifetimePackets != 0 {
		t.Errorf("unset: %d bytes, %d packets, want no limits", c.ChildLifetimeBytes, c.ChildLifetimePackets)
	}
	for _, tc := range []struct {
		value string
		want  uint64
		shown string
	}{
		{"", 0, ""},
		{"0", 0, ""},
		{"1048576", 1 << 20, "1M"},
		{"1048577", 1<<20 + 1, "1048577"},
		{"2M", 2 << 20, "2M"},
		{"500m", 500 << 20, "500M"},
		{"1536K", 1536 << 10, "1536K"},
		{"4G", 4 << 30, "4G"},
		{"1T", 1 << 40, "1T"},
		{"16777215T", 16777215 << 40, "16777215T"},
	} {
		c, _ := mustLoad(t, e.opts(VarChildBytes+"="+tc.value))
		if c.ChildLifetimeBytes != tc.want {
			t.Errorf("bytes %q: %d, want %d", tc.value, c.ChildLifetimeBytes, tc.want)
		}
		if got := effective(c, VarChildBytes); got != tc.shown {
			t.Errorf("bytes %q: shown as %q, want %q", tc.value, got, tc.shown)
		}
	}
	for _, tc := range []struct{ value, msg string }{
		{"500", "at least 1M"},
		{"1023K", "at least 1M"},
		{"16777216T", "too large"},
		{"99999999999999999999", "too large"},
		{"4GB", "not a byte count"},
		{"M", "not a byte count"},
		{"-1M", "not a byte count"},
		{"1.5G", "not a byte count"},
	} {
		_, _, err := Load(e.opts(VarChildBytes + "=" + tc.value))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Var != VarChildBytes || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("bytes %q: err = %v, want one of %s saying %q", tc.value, err, VarChildBytes, tc.msg)
		}
	}

	for _, tc := range []struct {
		value string
		want  uint64
	}{{"", 0}, {"0", 0}, {"1000", 1000}, {"5000000", 5000000}} {
		c, _ := mustLoad(t, e.opts(VarChildPackets+"="+tc.value))
		if c.ChildLifetimePackets != tc.want {
			t.Errorf("packets %q: %d, want %d", tc.value, c.ChildLifetimePackets, tc.want)
		}
	}
	for _, tc := range []struct{ value, msg string }{
		{"999", "at least 1000"},
		{"10K", "not a number of packets"},
		{"-5", "not a number of packets"},
	} {
		_, _, err := Load(e.opts(VarChildPackets + "=" + tc.value))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Var != VarChildPackets || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("packets %q: err = %v, want one of %s saying %q", tc.value, err, VarChildPackets, tc.msg)
		}
	}
}

func effective(c *Config, name string) string {
	for _, kv := range c.Effective() {
		if kv.Name == name {
			return kv.Value
		}
	}
	return "<missing>"
}
