package daemon

import (
	"strings"
	"testing"

	"metro/ike"
	"metro/policy"
)

// TestFragmentSizeDefault: the default METRO_IKE_FRAGMENT_SIZE documented
// by policy is the IKE package's.
func TestFragmentSizeDefault(t *testing.T) {
	if policy.DefaultFragmentSize != ike.DefaultFragmentSize {
		t.Errorf("policy.DefaultFragmentSize %d, ike.DefaultFragmentSize %d", policy.DefaultFragmentSize, ike.DefaultFragmentSize)
	}
	if policy.FragmentOff >= 0 {
		t.Errorf("policy.FragmentOff %d does not turn ike fragmentation off (needs < 0)", policy.FragmentOff)
	}
}

// TestRestartOnlyFragmentAndVolume: a reload cannot change the IKE
// fragment size or the CHILD_SA volume limits (the IKE node is
// configured once); the error names each.
func TestRestartOnlyFragmentAndVolume(t *testing.T) {
	running := &policy.Config{IKEFragmentSize: 1232}
	next := &policy.Config{IKEFragmentSize: policy.FragmentOff, ChildLifetimeBytes: 4 << 30, ChildLifetimePackets: 1000}
	err := checkRestartOnly(running, next)
	for _, name := range []string{policy.VarFragmentSize, policy.VarChildBytes, policy.VarChildPackets} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("changing %s: err = %v, want a restart error naming it", name, err)
		}
	}
	if err := checkRestartOnly(next, next); err != nil {
		t.Errorf("no change: %v", err)
	}
}
