package xfrm

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Memory is a Kernel that keeps its tables in memory. It applies the same
// validation as Netlink, so control-plane tests catch what the kernel
// would refuse; it logs (at debug) what it would install, never keys.
// Besides the Kernel methods it has helpers for tests: State, Policy,
// AddTraffic, FailNext and Counts.
type Memory struct {
	log *slog.Logger

	mu       sync.Mutex
	states   map[stateKey]*memState
	policies map[policyKey]Policy
	reserved map[stateKey]time.Time // SPIs handed out by AllocSPI, not yet added
	faults   map[string][]error
	closed   bool
	seq      uint64 // installation order, for Outbound
}

type memState struct {
	sa    SA
	stats SAStats
	seq   uint64
}

// reserveFor is how long an SPI from AllocSPI stays reserved without an
// AddSA, like the kernel's larval states (XFRM_ACQ_EXPIRES is 30 s; an
// IKE exchange with retransmissions may take longer).
const reserveFor = 2 * time.Minute

// NewMemory returns an empty in-memory kernel.
func NewMemory(log *slog.Logger) *Memory {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Memory{
		log:      log,
		states:   make(map[stateKey]*memState),
		policies: make(map[policyKey]Policy),
		reserved: make(map[stateKey]time.Time),
		faults:   make(map[string][]error),
	}
}

var _ Kernel = (*Memory)(nil)

// fault returns the next injected error for op, if any, and ErrClosed
// after Close. m.mu must be held.
func (m *Memory) fault(op string) error {
	if m.closed {
		return ErrClosed
	}
	if errs := m.faults[op]; len(errs) > 0 {
		m.faults[op] = errs[1:]
		return errs[0]
	}
	return nil
}

// FailNext makes the next call of the named method ("AllocSPI", "AddSA",
// "DeleteSA", "SAStats", "SAs", "SetPolicy", "DeletePolicy", "Policies")
// fail with err, without changing anything. Calls queue up.
func (m *Memory) FailNext(op string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults[op] = append(m.faults[op], err)
}

// AllocSPI implements Kernel.
func (m *Memory) AllocSPI(src, dst netip.Addr, reqid uint32) (uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("AllocSPI"); err != nil {
		return 0, err
	}
	if !dst.IsValid() || !src.IsValid() {
		return 0, fmt.Errorf("xfrm: AllocSPI: invalid address src=%v dst=%v", src, dst)
	}
	now := time.Now()
	for k, t := range m.reserved {
		if now.Sub(t) > reserveFor {
			delete(m.reserved, k)
		}
	}
	for range 64 {
		spi := randomSPI()
		k := stateKey{dst, spi}
		if _, ok := m.states[k]; ok {
			continue
		}
		if _, ok := m.reserved[k]; ok {
			continue
		}
		m.reserved[k] = now
		if m.debug() {
			m.log.Debug("xfrm: allocated SPI", "src", src, "dst", dst, "spi", hexSPI(spi), "reqid", hexReqid(reqid))
		}
		return spi, nil
	}
	return 0, fmt.Errorf("xfrm: AllocSPI %v: no free SPI after 64 tries", dst)
}

// randomSPI returns a uniformly random SPI in [0x100, 0xffffffff]; 1-255
// are reserved by IANA and 0 is invalid.
func randomSPI() uint32 {
	var b [4]byte
	for {
		rand.Read(b[:])
		if spi := binary.BigEndian.Uint32(b[:]); spi >= 0x100 {
			return spi
		}
	}
}

// AddSA implements Kernel.
func (m *Memory) AddSA(sa SA) error {
	if err := sa.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("AddSA"); err != nil {
		return err
	}
	k := stateKey{sa.Dst, sa.SPI}
	_, replaced := m.states[k]
	delete(m.reserved, k)
	m.seq++
	m.states[k] = &memState{sa: cloneSA(sa), stats: SAStats{AddTime: time.Now(), ReplayWindow: sa.ReplayWindow}, seq: m.seq}
	logSA(m.log, "xfrm: add SA", &sa, "replaced", replaced)
	return nil
}

// DeleteSA implements Kernel.
func (m *Memory) DeleteSA(dst netip.Addr, spi uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("DeleteSA"); err != nil {
		return err
	}
	k := stateKey{dst, spi}
	if _, ok := m.states[k]; ok {
		delete(m.states, k)
		if m.debug() {
			m.log.Debug("xfrm: delete SA", "dst", dst, "spi", hexSPI(spi))
		}
	}
	delete(m.reserved, k)
	return nil
}

// SAStats implements Kernel. The counters move only through AddTraffic.
func (m *Memory) SAStats(dst netip.Addr, spi uint32) (SAStats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("SAStats"); err != nil {
		return SAStats{}, err
	}
	st, ok := m.states[stateKey{dst, spi}]
	if !ok {
		return SAStats{}, fmt.Errorf("xfrm: SA %v spi %08x: %w", dst, spi, ErrNotFound)
	}
	return st.stats, nil
}

// Outbound returns the state the kernel would send src->dst traffic of a
// policy with reqid on: like Linux, the most recently added matching state.
func (m *Memory) Outbound(src, dst netip.Addr, reqid uint32) (SA, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var best *memState
	for _, st := range m.states {
		if st.sa.Src == src && st.sa.Dst == dst && st.sa.Reqid == reqid && (best == nil || st.seq > best.seq) {
			best = st
		}
	}
	if best == nil {
		return SA{}, false
	}
	return cloneSA(best.sa), true
}

// SAs implements Kernel; the copies include the keys.
func (m *Memory) SAs() ([]SA, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("SAs"); err != nil {
		return nil, err
	}
	out := make([]SA, 0, len(m.states))
	for _, st := range m.states {
		out = append(out, cloneSA(st.sa))
	}
	slices.SortFunc(out, func(a, b SA) int {
		if c := a.Dst.Compare(b.Dst); c != 0 {
			return c
		}
		return cmpU32(a.SPI, b.SPI)
	})
	return out, nil
}

// SetPolicy implements Kernel.
func (m *Memory) SetPolicy(p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("SetPolicy"); err != nil {
		return err
	}
	_, replaced := m.policies[p.key()]
	m.policies[p.key()] = p
	if m.debug() {
		m.log.Debug("xfrm: set policy", "policy", p.String(), "replaced", replaced)
	}
	return nil
}

// DeletePolicy implements Kernel.
func (m *Memory) DeletePolicy(p Policy) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("DeletePolicy"); err != nil {
		return err
	}
	if _, ok := m.policies[p.key()]; ok {
		delete(m.policies, p.key())
		if m.debug() {
			m.log.Debug("xfrm: delete policy", "policy", p.String())
		}
	}
	return nil
}

// Policies implements Kernel.
func (m *Memory) Policies() ([]Policy, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("Policies"); err != nil {
		return nil, err
	}
	out := make([]Policy, 0, len(m.policies))
	for _, p := range m.policies {
		out = append(out, p)
	}
	slices.SortFunc(out, comparePolicies)
	return out, nil
}

// Close implements Kernel; later calls fail with ErrClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// State returns a copy of the state (dst, spi), keys included.
func (m *Memory) State(dst netip.Addr, spi uint32) (SA, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.states[stateKey{dst, spi}]
	if !ok {
		return SA{}, false
	}
	return cloneSA(st.sa), true
}

// Policy returns the installed policy with p's identity (Src, Dst, Dir,
// Proto, ports).
func (m *Memory) Policy(p Policy) (Policy, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.policies[p.key()]
	return q, ok
}

// Counts returns the number of states, policies and outstanding SPI
// reservations.
func (m *Memory) Counts() (states, policies, reserved int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.states), len(m.policies), len(m.reserved)
}

// AddTraffic simulates packets through a state: it adds to the byte and
// packet counters (and sets UseTime on first use). It reports whether the
// state exists.
func (m *Memory) AddTraffic(dst netip.Addr, spi uint32, bytes, packets uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.states[stateKey{dst, spi}]
	if !ok {
		return false
	}
	st.stats.Bytes += bytes
	st.stats.Packets += packets
	if st.stats.UseTime.IsZero() && packets > 0 {
		st.stats.UseTime = time.Now()
	}
	return true
}

func cloneAlgo(a *Algo) *Algo {
	if a == nil {
		return nil
	}
	c := *a
	c.Key = slices.Clone(a.Key)
	return &c
}

func cloneSA(sa SA) SA {
	sa.AEAD, sa.Crypt, sa.Auth = cloneAlgo(sa.AEAD), cloneAlgo(sa.Crypt), cloneAlgo(sa.Auth)
	if sa.Encap != nil {
		e := *sa.Encap
		sa.Encap = &e
	}
	return sa
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// comparePolicies orders policies by selector then direction, for stable
// listings.
func comparePolicies(a, b Policy) int {
	if c := a.Src.Addr().Compare(b.Src.Addr()); c != 0 {
		return c
	}
	if c := a.Dst.Addr().Compare(b.Dst.Addr()); c != 0 {
		return c
	}
	for _, c := range []int{
		a.Src.Bits() - b.Src.Bits(), a.Dst.Bits() - b.Dst.Bits(),
		int(a.Dir) - int(b.Dir), int(a.Proto) - int(b.Proto),
		int(a.SrcPort) - int(b.SrcPort), int(a.DstPort) - int(b.DstPort),
	} {
		if c != 0 {
			return c
		}
	}
	return 0
}

// debug reports whether debug logging is on: the messages' arguments are
// formatted only then (a benchmark installs thousands of states a second).
func (m *Memory) debug() bool { return m.log.Enabled(context.Background(), slog.LevelDebug) }

func hexSPI(spi uint32) string     { return fmt.Sprintf("%08x", spi) }
func hexReqid(reqid uint32) string { return fmt.Sprintf("%#x", reqid) }

// logSA logs a state at debug level, without key material.
func logSA(log *slog.Logger, msg string, sa *SA, extra ...any) {
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	args := []any{"src", sa.Src, "dst", sa.Dst, "spi", hexSPI(sa.SPI), "reqid", hexReqid(sa.Reqid),
		"replay_window", sa.ReplayWindow, "esn", sa.ESN}
	if sa.AEAD != nil {
		args = append(args, "aead", sa.AEAD.String())
	}
	if sa.Crypt != nil {
		args = append(args, "crypt", sa.Crypt.String())
	}
	if sa.Auth != nil {
		args = append(args, "auth", sa.Auth.String())
	}
	if sa.Encap != nil {
		args = append(args, "encap", fmt.Sprintf("udp %d->%d", sa.Encap.SrcPort, sa.Encap.DstPort))
	}
	if sa.Lifetime != (Lifetime{}) {
		args = append(args, "lifetime", fmt.Sprintf("%+v", sa.Lifetime))
	}
	log.Debug(msg, append(args, extra...)...)
}
