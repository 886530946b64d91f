package firewall

import (
	"slices"
	"sync"
)

// Memory is a Firewall that keeps the ruleset in memory, for tests of the
// code that drives the firewall.
type Memory struct {
	mu      sync.Mutex
	current *Ruleset // nil: no table
	applied int
	// Err, when set, is returned by Apply (without changing anything).
	Err error
}

// NewMemory returns an empty in-memory firewall.
func NewMemory() *Memory { return &Memory{} }

// Apply implements Firewall.
func (m *Memory) Apply(r Ruleset) error {
	if err := r.Check(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Err != nil {
		return m.Err
	}
	m.applied++
	if r.Empty() {
		m.current = nil
		return nil
	}
	c := Ruleset{
		Redirects: slices.Clone(r.Redirects),
		MSS:       r.MSS,
		Peers:     slices.Clone(r.Peers),
	}
	m.current = &c
	return nil
}

// Remove implements Firewall.
func (m *Memory) Remove() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.current = nil
	return nil
}

// Current returns the installed ruleset, and false when there is no table.
func (m *Memory) Current() (Ruleset, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.current == nil {
		return Ruleset{}, false
	}
	return *m.current, true
}

// Applied counts the successful Apply calls.
func (m *Memory) Applied() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.applied
}

var _ Firewall = (*Memory)(nil)
