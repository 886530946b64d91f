//go:build linux

package xfrm

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Netlink is the Kernel of the running system, spoken to over
// NETLINK_XFRM. Its sockets belong to the network namespace of the thread
// that called NewNetlink.
//
// Policies go through github.com/vishvananda/netlink. States are encoded
// here (codec.go) and sent with that library's request machinery, because
// the library's state calls silently truncate the replay window to the
// 8-bit legacy field (which the kernel caps at 32), cannot send
// XFRMA_REPLAY_ESN_VAL without ESN, do not read the window back, and guess
// address families from the address bytes. Listings are parsed here for
// the same reason.
type Netlink struct {
	log  *slog.Logger
	h    *netlink.Handle  // policy requests
	sock *nl.SocketHandle // state requests and dumps

	mu       sync.Mutex
	reserved map[stateKey]time.Time // SPIs handed out by AllocSPI
	closed   bool
}

var _ Kernel = (*Netlink)(nil)

// requestTimeout bounds each netlink exchange.
const requestTimeout = 10 * time.Second

// NewNetlink opens the XFRM netlink sockets in the current thread's network
// namespace and checks that the kernel answers (XFRM_USER is present).
func NewNetlink(log *slog.Logger) (*Netlink, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h, err := netlink.NewHandle(unix.NETLINK_XFRM)
	if err != nil {
		return nil, fmt.Errorf("xfrm: opening netlink handle: %w", err)
	}
	if err := h.SetSocketTimeout(requestTimeout); err != nil {
		h.Close()
		return nil, fmt.Errorf("xfrm: netlink handle timeout: %w", err)
	}
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_XFRM)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("xfrm: opening NETLINK_XFRM socket: %w", err)
	}
	tv := unix.NsecToTimeval(requestTimeout.Nanoseconds())
	_ = s.SetSendTimeout(&tv)
	_ = s.SetReceiveTimeout(&tv)
	_ = s.SetExtAck(true) // kernel error strings, when supported
	n := &Netlink{
		log:      log,
		h:        h,
		sock:     &nl.SocketHandle{Socket: s},
		reserved: make(map[stateKey]time.Time),
	}
	if _, err := n.dump(xfrmMsgGetPolicy, xfrmMsgNewPolicy); err != nil {
		n.Close()
		return nil, fmt.Errorf("xfrm: kernel does not answer XFRM requests (is xfrm_user loaded?): %w", err)
	}
	return n, nil
}

// Close implements Kernel.
func (n *Netlink) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	n.h.Close()
	n.sock.Close()
	return nil
}

func (n *Netlink) checkOpen() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	return nil
}

// rawData is a request body the library serialises as is.
type rawData []byte

func (r rawData) Len() int          { return len(r) }
func (r rawData) Serialize() []byte { return r }

// exec sends one request on the state socket and returns the payloads of
// the replies of type resType (0: none expected, just the ACK).
func (n *Netlink) exec(typ, flags int, body []byte, resType uint16) ([][]byte, error) {
	if err := n.checkOpen(); err != nil {
		return nil, err
	}
	req := nl.NewNetlinkRequest(typ, flags)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_XFRM: n.sock}
	req.AddData(rawData(body))
	return req.Execute(unix.NETLINK_XFRM, resType)
}

// dump runs a dump request, retrying when the table changed under it.
func (n *Netlink) dump(typ int, resType uint16) ([][]byte, error) {
	var err error
	for range 5 {
		var msgs [][]byte
		msgs, err = n.exec(typ, unix.NLM_F_DUMP, nil, resType)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return msgs, err
		}
	}
	return nil, err
}

// getState fetches the state (dst, spi) of protocol ESP.
func (n *Netlink) getState(dst netip.Addr, spi uint32) (kernelState, error) {
	msgs, err := n.exec(xfrmMsgGetSA, 0, encodeUsersaID(dst, spi), xfrmMsgNewSA)
	if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) || err == nil && len(msgs) == 0 {
		return kernelState{}, fmt.Errorf("xfrm: SA %v spi %08x: %w", dst, spi, ErrNotFound)
	}
	if err != nil {
		return kernelState{}, fmt.Errorf("xfrm: getting SA %v spi %08x: %w", dst, spi, err)
	}
	st, err := parseState(msgs[0])
	if err != nil {
		return kernelState{}, fmt.Errorf("xfrm: SA %v spi %08x: parsing reply: %w", dst, spi, err)
	}
	return st, nil
}

// delState removes the state (dst, spi); a missing state is not an error.
func (n *Netlink) delState(dst netip.Addr, spi uint32) error {
	_, err := n.exec(xfrmMsgDelSA, unix.NLM_F_ACK, encodeUsersaID(dst, spi), 0)
	if err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("xfrm: deleting SA %v spi %08x: %w", dst, spi, err)
	}
	return nil
}

// AllocSPI implements Kernel. It draws random SPIs and keeps the first
// one that no state uses and this Netlink has not handed out in the last
// reserveFor. (XFRM_MSG_ALLOCSPI is not used: it hands the same larval
// state, and so the same SPI, to every request with equal addresses and
// reqid, e.g. two concurrent rekeyings of one CHILD_SA.)
func (n *Netlink) AllocSPI(src, dst netip.Addr, reqid uint32) (uint32, error) {
	if !src.IsValid() || !dst.IsValid() {
		return 0, fmt.Errorf("xfrm: AllocSPI: invalid address src=%v dst=%v", src, dst)
	}
	for range 64 {
		spi := randomSPI()
		k := stateKey{dst, spi}
		n.mu.Lock()
		now := time.Now()
		for rk, t := range n.reserved {
			if now.Sub(t) > reserveFor {
				delete(n.reserved, rk)
			}
		}
		_, taken := n.reserved[k]
		if !taken {
			n.reserved[k] = now
		}
		n.mu.Unlock()
		if taken {
			continue
		}
		_, err := n.getState(dst, spi)
		if errors.Is(err, ErrNotFound) {
			n.log.Debug("xfrm: allocated SPI", "src", src, "dst", dst, "spi", hexSPI(spi), "reqid", hexReqid(reqid))
			return spi, nil
		}
		n.release(k)
		if err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("xfrm: AllocSPI %v: no free SPI after 64 tries", dst)
}

func (n *Netlink) release(k stateKey) {
	n.mu.Lock()
	delete(n.reserved, k)
	n.mu.Unlock()
}

// AddSA implements Kernel.
func (n *Netlink) AddSA(sa SA) error {
	if err := sa.Validate(); err != nil {
		return err
	}
	k := stateKey{sa.Dst, sa.SPI}
	body := encodeNewSA(&sa)
	defer clear(body) // the keys
	_, err := n.exec(xfrmMsgNewSA, unix.NLM_F_ACK, body, 0)
	replaced := false
	if errors.Is(err, unix.EEXIST) {
		old, gerr := n.getState(sa.Dst, sa.SPI)
		switch {
		case errors.Is(gerr, ErrNotFound): // deleted meanwhile
		case gerr != nil:
			return gerr
		case !OwnedReqid(old.Reqid):
			return fmt.Errorf("xfrm: adding SA %v->%v spi %08x: the kernel has a state with reqid %#x: %w", sa.Src, sa.Dst, sa.SPI, old.Reqid, ErrNotOwned)
		default:
			if err := n.delState(sa.Dst, sa.SPI); err != nil {
				return err
			}
			replaced = true
		}
		_, err = n.exec(xfrmMsgNewSA, unix.NLM_F_ACK, body, 0)
	}
	if err != nil {
		return fmt.Errorf("xfrm: adding SA %v->%v spi %08x: %w", sa.Src, sa.Dst, sa.SPI, err)
	}
	n.release(k)
	if sa.ReplayWindow > 0 {
		st, err := n.getState(sa.Dst, sa.SPI)
		if err != nil {
			return fmt.Errorf("xfrm: reading back SA %v->%v spi %08x: %w", sa.Src, sa.Dst, sa.SPI, err)
		}
		if st.ReplayWindow == 0 {
			_ = n.delState(sa.Dst, sa.SPI)
			return fmt.Errorf("xfrm: SA %v->%v spi %08x: kernel reports no replay window (asked for %d); state removed", sa.Src, sa.Dst, sa.SPI, sa.ReplayWindow)
		}
		if st.ReplayWindow != sa.ReplayWindow {
			n.log.Warn("xfrm: kernel changed the replay window", "spi", hexSPI(sa.SPI), "asked", sa.ReplayWindow, "got", st.ReplayWindow)
		}
	}
	logSA(n.log, "xfrm: add SA", &sa, "replaced", replaced)
	return nil
}

// DeleteSA implements Kernel.
func (n *Netlink) DeleteSA(dst netip.Addr, spi uint32) error {
	n.release(stateKey{dst, spi})
	st, err := n.getState(dst, spi)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !OwnedReqid(st.Reqid) {
		return fmt.Errorf("xfrm: deleting SA %v spi %08x with reqid %#x: %w", dst, spi, st.Reqid, ErrNotOwned)
	}
	if err := n.delState(dst, spi); err != nil {
		return err
	}
	n.log.Debug("xfrm: delete SA", "dst", dst, "spi", hexSPI(spi))
	return nil
}

// SAStats implements Kernel.
func (n *Netlink) SAStats(dst netip.Addr, spi uint32) (SAStats, error) {
	st, err := n.getState(dst, spi)
	if err != nil {
		return SAStats{}, err
	}
	return st.Stats, nil
}

// SAs implements Kernel. Keys are not read back.
func (n *Netlink) SAs() ([]SA, error) {
	msgs, err := n.dump(xfrmMsgGetSA, xfrmMsgNewSA)
	if err != nil {
		return nil, fmt.Errorf("xfrm: listing SAs: %w", err)
	}
	var out []SA
	for i, m := range msgs {
		st, err := parseState(m)
		if err != nil {
			return nil, fmt.Errorf("xfrm: listing SAs: entry %d: %w", i, err)
		}
		if st.Proto != ipprotoESP || st.SPI == 0 || st.Larval || !OwnedReqid(st.Reqid) {
			continue
		}
		out = append(out, st.SA)
	}
	return out, nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// libPolicy converts p for github.com/vishvananda/netlink.
func libPolicy(p *Policy) *netlink.XfrmPolicy {
	lp := &netlink.XfrmPolicy{
		Src:      ipNet(p.Src),
		Dst:      ipNet(p.Dst),
		Proto:    netlink.Proto(p.Proto),
		SrcPort:  int(p.SrcPort),
		DstPort:  int(p.DstPort),
		Dir:      netlink.Dir(kernelDir(p.Dir)),
		Priority: int(p.Priority),
		Action:   netlink.XFRM_POLICY_ALLOW,
	}
	if !p.Bypass {
		// Transport mode: the template addresses stay unset, but the
		// library derives the template family from Dst, and the kernel
		// refuses a family change in transport mode, so pass the zero
		// address of the selector's family.
		any := net.IPv4zero
		if p.Dst.Addr().Is6() {
			any = net.IPv6zero
		}
		lp.Tmpls = []netlink.XfrmPolicyTmpl{{
			Dst: any, Src: any,
			Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TRANSPORT, Reqid: int(p.Reqid),
		}}
	}
	return lp
}

// libPolicyOwned reports whether a policy fetched by the library is
// metro's: an ESP template with an owned reqid, or a template-less allow
// policy at PriorityBypass.
func libPolicyOwned(lp *netlink.XfrmPolicy) bool {
	if lp.Mark != nil || lp.Ifid != 0 {
		return false
	}
	for _, t := range lp.Tmpls {
		if t.Proto == netlink.XFRM_PROTO_ESP && OwnedReqid(uint32(t.Reqid)) {
			return true
		}
	}
	return len(lp.Tmpls) == 0 && lp.Action == netlink.XFRM_POLICY_ALLOW && uint32(lp.Priority) == PriorityBypass
}

// SetPolicy implements Kernel.
func (n *Netlink) SetPolicy(p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := n.checkOpen(); err != nil {
		return err
	}
	lp := libPolicy(&p)
	old, err := n.h.XfrmPolicyGet(lp)
	switch {
	case err == nil && !libPolicyOwned(old):
		return fmt.Errorf("xfrm: setting policy %v: a foreign policy has the same selector: %w", p, ErrNotOwned)
	case err != nil && !errors.Is(err, unix.ENOENT):
		return fmt.Errorf("xfrm: setting policy %v: looking up: %w", p, err)
	}
	if err := n.h.XfrmPolicyUpdate(lp); err != nil {
		return fmt.Errorf("xfrm: setting policy %v: %w", p, err)
	}
	n.log.Debug("xfrm: set policy", "policy", p.String())
	return nil
}

// DeletePolicy implements Kernel.
func (n *Netlink) DeletePolicy(p Policy) error {
	if err := n.checkOpen(); err != nil {
		return err
	}
	lp := libPolicy(&p)
	old, err := n.h.XfrmPolicyGet(lp)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("xfrm: deleting policy %v: looking up: %w", p, err)
	}
	if !libPolicyOwned(old) {
		return fmt.Errorf("xfrm: deleting policy %v: %w", p, ErrNotOwned)
	}
	if err := n.h.XfrmPolicyDel(lp); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("xfrm: deleting policy %v: %w", p, err)
	}
	n.log.Debug("xfrm: delete policy", "policy", p.String())
	return nil
}

// Policies implements Kernel.
func (n *Netlink) Policies() ([]Policy, error) {
	msgs, err := n.dump(xfrmMsgGetPolicy, xfrmMsgNewPolicy)
	if err != nil {
		return nil, fmt.Errorf("xfrm: listing policies: %w", err)
	}
	var out []Policy
	for i, m := range msgs {
		kp, err := parsePolicy(m)
		if err != nil {
			return nil, fmt.Errorf("xfrm: listing policies: entry %d: %w", i, err)
		}
		if p, ok := ownedPolicy(&kp); ok {
			out = append(out, p)
		}
	}
	return out, nil
}
