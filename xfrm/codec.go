package xfrm

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// This file encodes and decodes the XFRM netlink structures of layout.go.
// It is portable (no syscalls) so that the parsers are tested anywhere.

var (
	he = binary.NativeEndian // host-order fields
	be = binary.BigEndian    // addresses, ports, SPIs
)

// putAddr writes a into an xfrm_address_t (IPv4 in the first 4 bytes).
func putAddr(b []byte, a netip.Addr) {
	clear(b[:sizeofAddress])
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
	} else if a.IsValid() {
		v := a.As16()
		copy(b, v[:])
	}
}

// getAddr reads an xfrm_address_t of the given family.
func getAddr(b []byte, family uint16) (netip.Addr, bool) {
	switch family {
	case afInet:
		return netip.AddrFrom4([4]byte(b[:4])), true
	case afInet6:
		return netip.AddrFrom16([16]byte(b[:16])), true
	}
	return netip.Addr{}, false
}

func family(a netip.Addr) uint16 {
	if a.Is4() {
		return afInet
	}
	return afInet6
}

// selector is a decoded struct xfrm_selector.
type selector struct {
	Family           uint16
	Src, Dst         netip.Prefix
	SrcPort, DstPort uint16 // for ICMP: type and code
	Proto            uint8
	Ifindex          int32
}

// putSelector encodes s into b[:sizeofSelector]. A non-zero port is
// matched exactly (mask 0xffff); zero means any.
func putSelector(b []byte, s selector) {
	clear(b[:sizeofSelector])
	putAddr(b[selDaddr:], s.Dst.Addr())
	putAddr(b[selSaddr:], s.Src.Addr())
	if s.DstPort != 0 {
		be.PutUint16(b[selDport:], s.DstPort)
		be.PutUint16(b[selDportMask:], 0xffff)
	}
	if s.SrcPort != 0 {
		be.PutUint16(b[selSport:], s.SrcPort)
		be.PutUint16(b[selSportMask:], 0xffff)
	}
	he.PutUint16(b[selFamily:], s.Family)
	b[selPrefixlenD] = uint8(max(s.Dst.Bits(), 0)) // Bits is -1 for an unset prefix
	b[selPrefixlenS] = uint8(max(s.Src.Bits(), 0))
	b[selProto] = s.Proto
	he.PutUint32(b[selIfindex:], uint32(s.Ifindex))
}

// parseSelector decodes b[:sizeofSelector].
func parseSelector(b []byte) (selector, error) {
	if len(b) < sizeofSelector {
		return selector{}, fmt.Errorf("xfrm_selector: %d bytes, want %d", len(b), sizeofSelector)
	}
	s := selector{
		Family:  he.Uint16(b[selFamily:]),
		Proto:   b[selProto],
		SrcPort: be.Uint16(b[selSport:]) & be.Uint16(b[selSportMask:]),
		DstPort: be.Uint16(b[selDport:]) & be.Uint16(b[selDportMask:]),
		Ifindex: int32(he.Uint32(b[selIfindex:])),
	}
	if s.Family == 0 { // AF_UNSPEC: matches everything
		return s, nil
	}
	dst, ok1 := getAddr(b[selDaddr:], s.Family)
	src, ok2 := getAddr(b[selSaddr:], s.Family)
	if !ok1 || !ok2 {
		return s, fmt.Errorf("xfrm_selector: unknown family %d at offset %d", s.Family, selFamily)
	}
	// PrefixFrom keeps the address bits as the kernel stored them.
	if s.Dst = netip.PrefixFrom(dst, int(b[selPrefixlenD])); !s.Dst.IsValid() {
		return s, fmt.Errorf("xfrm_selector: prefixlen_d %d at offset %d too long for family %d", b[selPrefixlenD], selPrefixlenD, s.Family)
	}
	if s.Src = netip.PrefixFrom(src, int(b[selPrefixlenS])); !s.Src.IsValid() {
		return s, fmt.Errorf("xfrm_selector: prefixlen_s %d at offset %d too long for family %d", b[selPrefixlenS], selPrefixlenS, s.Family)
	}
	return s, nil
}

// putLifetimeCfg writes limits, 0 meaning unlimited (XFRM_INF for the
// byte and packet counts; the kernel's "no expiry" for the times).
func putLifetimeCfg(b []byte, l Lifetime) {
	inf := func(v uint64) uint64 {
		if v == 0 {
			return xfrmInf
		}
		return v
	}
	he.PutUint64(b[lftSoftBytes:], inf(l.SoftBytes))
	he.PutUint64(b[lftHardBytes:], inf(l.HardBytes))
	he.PutUint64(b[lftSoftPackets:], inf(l.SoftPackets))
	he.PutUint64(b[lftHardPackets:], inf(l.HardPackets))
	he.PutUint64(b[lftSoftAdd:], seconds(l.SoftAdd))
	he.PutUint64(b[lftHardAdd:], seconds(l.HardAdd))
	he.PutUint64(b[lftSoftUse:], 0)
	he.PutUint64(b[lftHardUse:], 0)
}

func parseLifetimeCfg(b []byte) Lifetime {
	fin := func(v uint64) uint64 {
		if v == xfrmInf {
			return 0
		}
		return v
	}
	return Lifetime{
		SoftBytes:   fin(he.Uint64(b[lftSoftBytes:])),
		HardBytes:   fin(he.Uint64(b[lftHardBytes:])),
		SoftPackets: fin(he.Uint64(b[lftSoftPackets:])),
		HardPackets: fin(he.Uint64(b[lftHardPackets:])),
		SoftAdd:     time.Duration(he.Uint64(b[lftSoftAdd:])) * time.Second,
		HardAdd:     time.Duration(he.Uint64(b[lftHardAdd:])) * time.Second,
	}
}

// hostSelector is the selector of a transport-mode state between two hosts.
func hostSelector(src, dst netip.Addr) selector {
	return selector{
		Family: family(dst),
		Src:    netip.PrefixFrom(src, src.BitLen()),
		Dst:    netip.PrefixFrom(dst, dst.BitLen()),
	}
}

// encodeUsersaInfo builds the xfrm_usersa_info of sa. Windows above 32
// and ESN go in XFRMA_REPLAY_ESN_VAL (see useESNAttr); then the legacy
// field must be 0.
func encodeUsersaInfo(sa *SA) []byte {
	b := make([]byte, sizeofUsersaInfo)
	if sa.Encap == nil {
		// Transport mode: the state only carries traffic between the two
		// hosts. Behind NAT the inner addresses differ from the outer
		// ones, so the selector is left empty (AF_UNSPEC).
		putSelector(b[saSel:], hostSelector(sa.Src, sa.Dst))
	}
	putAddr(b[saID+idDaddr:], sa.Dst)
	be.PutUint32(b[saID+idSPI:], sa.SPI)
	b[saID+idProto] = ipprotoESP
	putAddr(b[saSaddr:], sa.Src)
	putLifetimeCfg(b[saLft:], sa.Lifetime)
	he.PutUint32(b[saReqid:], sa.Reqid)
	he.PutUint16(b[saFamily:], family(sa.Dst))
	b[saMode] = xfrmModeTransport
	if !useESNAttr(sa) {
		b[saReplayWindow] = uint8(sa.ReplayWindow)
	}
	if sa.ESN {
		b[saFlags] |= xfrmStateESN
	}
	return b
}

// useESNAttr reports whether the replay state must be given as
// xfrm_replay_state_esn: for ESN, and for windows the legacy 32-bit
// bitmap cannot hold (the kernel silently caps those to 32).
func useESNAttr(sa *SA) bool { return sa.ESN || sa.ReplayWindow > 32 }

// encodeReplayESN builds an xfrm_replay_state_esn with an empty bitmap
// large enough for window.
func encodeReplayESN(window uint32) []byte {
	words := (window + 31) / 32
	b := make([]byte, sizeofReplayESN+4*int(words))
	he.PutUint32(b[esnBmpLen:], words)
	he.PutUint32(b[esnReplayWindow:], window)
	return b
}

// encodeAlgo builds xfrm_algo (extra < 0), or xfrm_algo_auth/xfrm_algo_aead
// whose second length field (truncation or ICV bits) is extra.
func encodeAlgo(a *Algo, extra int) []byte {
	hdr := sizeofAlgo
	if extra >= 0 {
		hdr = sizeofAlgoAuth
	}
	b := make([]byte, hdr+len(a.Key))
	copy(b[algoName:algoName+maxAlgoName-1], a.Name)
	he.PutUint32(b[algoKeyLen:], uint32(8*len(a.Key)))
	if extra >= 0 {
		he.PutUint32(b[sizeofAlgo:], uint32(extra))
	}
	copy(b[hdr:], a.Key)
	return b
}

// parseAlgo decodes the name and second length of an algorithm attribute
// without copying the key: metro never reads keys back from the kernel.
func parseAlgo(b []byte, withExtra bool) (*Algo, error) {
	hdr := sizeofAlgo
	if withExtra {
		hdr = sizeofAlgoAuth
	}
	if len(b) < hdr {
		return nil, fmt.Errorf("xfrm_algo: %d bytes, want at least %d", len(b), hdr)
	}
	name := b[algoName : algoName+maxAlgoName]
	for i, c := range name {
		if c == 0 {
			name = name[:i]
			break
		}
	}
	a := &Algo{Name: string(name)}
	if withExtra {
		a.TruncBits = int(he.Uint32(b[sizeofAlgo:])) // the caller moves it to ICVBits for AEAD
	}
	return a, nil
}

// encodeEncap builds an xfrm_encap_tmpl for ESP in UDP.
func encodeEncap(e *Encap) []byte {
	b := make([]byte, sizeofEncapTmpl)
	he.PutUint16(b[encapType:], espInUDP)
	be.PutUint16(b[encapSport:], e.SrcPort)
	be.PutUint16(b[encapDport:], e.DstPort)
	return b
}

// encodeUsersaID builds the xfrm_usersa_id naming an ESP state.
func encodeUsersaID(dst netip.Addr, spi uint32) []byte {
	b := make([]byte, sizeofUsersaID)
	putAddr(b[usaDaddr:], dst)
	be.PutUint32(b[usaSPI:], spi)
	he.PutUint16(b[usaFamily:], family(dst))
	b[usaProto] = ipprotoESP
	return b
}

// putAttr appends a netlink attribute, padded to 4 bytes.
func putAttr(b []byte, typ uint16, data []byte) []byte {
	n := sizeofNlattr + len(data)
	var h [sizeofNlattr]byte
	he.PutUint16(h[0:], uint16(n))
	he.PutUint16(h[2:], typ)
	b = append(b, h[:]...)
	b = append(b, data...)
	for n%4 != 0 {
		b = append(b, 0)
		n++
	}
	return b
}

// attrs walks the netlink attributes in b, calling f with the type
// (flags masked off) and the payload. off is b's offset in the message,
// for errors.
func attrs(b []byte, off int, f func(typ uint16, data []byte) error) error {
	for len(b) > 0 {
		if len(b) < sizeofNlattr {
			return fmt.Errorf("netlink attribute at offset %d: %d bytes left, want a %d-byte header", off, len(b), sizeofNlattr)
		}
		n := int(he.Uint16(b[0:]))
		if n < sizeofNlattr || n > len(b) {
			return fmt.Errorf("netlink attribute at offset %d: length %d, %d bytes left", off, n, len(b))
		}
		if err := f(he.Uint16(b[2:])&nlaTypeMask, b[sizeofNlattr:n]); err != nil {
			return fmt.Errorf("netlink attribute type %d at offset %d: %w", he.Uint16(b[2:])&nlaTypeMask, off, err)
		}
		n = (n + 3) &^ 3
		if n > len(b) {
			n = len(b)
		}
		b, off = b[n:], off+n
	}
	return nil
}

// kernelState is a decoded XFRM_MSG_NEWSA (a dump entry or a GETSA reply).
type kernelState struct {
	SA
	Proto   uint8
	Mode    uint8
	Sel     selector
	Stats   SAStats
	Flags   uint8
	Larval  bool // no algorithm attributes: an ACQUIRE or ALLOCSPI placeholder
	Encaped uint16
}

// parseUsersaInfo decodes the fixed part of a state.
func parseUsersaInfo(b []byte) (kernelState, error) {
	var st kernelState
	if len(b) < sizeofUsersaInfo {
		return st, fmt.Errorf("xfrm_usersa_info: %d bytes, want %d", len(b), sizeofUsersaInfo)
	}
	fam := he.Uint16(b[saFamily:])
	var ok1, ok2 bool
	st.Dst, ok1 = getAddr(b[saID+idDaddr:], fam)
	st.Src, ok2 = getAddr(b[saSaddr:], fam)
	if !ok1 || !ok2 {
		return st, fmt.Errorf("xfrm_usersa_info: unknown family %d at offset %d", fam, saFamily)
	}
	sel, err := parseSelector(b[saSel:])
	if err != nil {
		return st, fmt.Errorf("xfrm_usersa_info.sel: %w", err)
	}
	st.Sel = sel
	st.SPI = be.Uint32(b[saID+idSPI:])
	st.Proto = b[saID+idProto]
	st.Reqid = he.Uint32(b[saReqid:])
	st.Mode = b[saMode]
	st.Flags = b[saFlags]
	st.ESN = st.Flags&xfrmStateESN != 0
	st.ReplayWindow = uint32(b[saReplayWindow])
	st.Lifetime = parseLifetimeCfg(b[saLft:])
	cur := b[saCurlft:]
	st.Stats.Bytes = he.Uint64(cur[curBytes:])
	st.Stats.Packets = he.Uint64(cur[curPackets:])
	if t := he.Uint64(cur[curAddTime:]); t != 0 {
		st.Stats.AddTime = time.Unix(int64(t), 0)
	}
	if t := he.Uint64(cur[curUseTime:]); t != 0 {
		st.Stats.UseTime = time.Unix(int64(t), 0)
	}
	st.Stats.ReplayDrops = he.Uint32(b[saStats+statsReplay:])
	st.Stats.IntegrityFails = he.Uint32(b[saStats+statsIntegrityFailed:])
	return st, nil
}

// parseState decodes an xfrm_usersa_info followed by its attributes.
func parseState(b []byte) (kernelState, error) {
	st, err := parseUsersaInfo(b)
	if err != nil {
		return st, err
	}
	st.Larval = true
	err = attrs(b[sizeofUsersaInfo:], sizeofUsersaInfo, func(typ uint16, data []byte) error {
		var err error
		switch typ {
		case xfrmaAlgAEAD:
			st.AEAD, err = parseAlgo(data, true)
			if err == nil {
				st.AEAD.ICVBits, st.AEAD.TruncBits = st.AEAD.TruncBits, 0
			}
			st.Larval = false
		case xfrmaAlgCrypt:
			st.Crypt, err = parseAlgo(data, false)
			st.Larval = false
		case xfrmaAlgAuthTrunc:
			st.Auth, err = parseAlgo(data, true)
			st.Larval = false
		case xfrmaAlgAuth:
			if st.Auth == nil { // the kernel also sends this next to AUTH_TRUNC
				st.Auth, err = parseAlgo(data, false)
			}
			st.Larval = false
		case xfrmaEncap:
			if len(data) < sizeofEncapTmpl {
				return fmt.Errorf("xfrm_encap_tmpl: %d bytes, want %d", len(data), sizeofEncapTmpl)
			}
			st.Encaped = he.Uint16(data[encapType:])
			st.Encap = &Encap{SrcPort: be.Uint16(data[encapSport:]), DstPort: be.Uint16(data[encapDport:])}
		case xfrmaReplayESNVal:
			if len(data) < sizeofReplayESN {
				return fmt.Errorf("xfrm_replay_state_esn: %d bytes, want at least %d", len(data), sizeofReplayESN)
			}
			st.ReplayWindow = he.Uint32(data[esnReplayWindow:])
		}
		return err
	})
	st.Stats.ReplayWindow = st.ReplayWindow
	return st, err
}

// kernelPolicy is a decoded xfrm_userpolicy_info with its templates.
type kernelPolicy struct {
	Sel      selector
	Priority uint32
	Index    uint32
	Dir      uint8 // kernel direction (xfrmPolicyIn/Out/Fwd, socket ones above)
	Action   uint8
	Tmpls    []kernelTmpl
	Marked   bool // has XFRMA_MARK or XFRMA_IF_ID: never metro's
}

type kernelTmpl struct {
	Dst, Src netip.Addr // unset (invalid) in transport mode
	SPI      uint32
	Proto    uint8
	Family   uint16
	Reqid    uint32
	Mode     uint8
	Optional uint8
}

func parseUserpolicyInfo(b []byte) (kernelPolicy, error) {
	var p kernelPolicy
	if len(b) < sizeofUserpolicyInfo {
		return p, fmt.Errorf("xfrm_userpolicy_info: %d bytes, want %d", len(b), sizeofUserpolicyInfo)
	}
	sel, err := parseSelector(b[polSel:])
	if err != nil {
		return p, fmt.Errorf("xfrm_userpolicy_info.sel: %w", err)
	}
	p.Sel = sel
	p.Priority = he.Uint32(b[polPriority:])
	p.Index = he.Uint32(b[polIndex:])
	p.Dir = b[polDir]
	p.Action = b[polAction]
	return p, nil
}

// parseTmpls decodes an XFRMA_TMPL payload: an array of xfrm_user_tmpl.
func parseTmpls(b []byte) ([]kernelTmpl, error) {
	if len(b)%sizeofUserTmpl != 0 {
		return nil, fmt.Errorf("XFRMA_TMPL: %d bytes is not a multiple of %d", len(b), sizeofUserTmpl)
	}
	var ts []kernelTmpl
	for ; len(b) > 0; b = b[sizeofUserTmpl:] {
		t := kernelTmpl{
			SPI:      be.Uint32(b[tmplID+idSPI:]),
			Proto:    b[tmplID+idProto],
			Family:   he.Uint16(b[tmplFamily:]),
			Reqid:    he.Uint32(b[tmplReqid:]),
			Mode:     b[tmplMode],
			Optional: b[tmplOptional],
		}
		if !allZero(b[tmplID+idDaddr : tmplID+idDaddr+sizeofAddress]) {
			t.Dst, _ = getAddr(b[tmplID+idDaddr:], t.Family)
		}
		if !allZero(b[tmplSaddr : tmplSaddr+sizeofAddress]) {
			t.Src, _ = getAddr(b[tmplSaddr:], t.Family)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// parsePolicy decodes an xfrm_userpolicy_info followed by its attributes.
func parsePolicy(b []byte) (kernelPolicy, error) {
	p, err := parseUserpolicyInfo(b)
	if err != nil {
		return p, err
	}
	err = attrs(b[sizeofUserpolicyInfo:], sizeofUserpolicyInfo, func(typ uint16, data []byte) error {
		switch typ {
		case xfrmaTmpl:
			var err error
			p.Tmpls, err = parseTmpls(data)
			return err
		case xfrmaMark, xfrmaIfID:
			p.Marked = true
		}
		return nil
	})
	return p, err
}

// encodeUserpolicyInfo builds an xfrm_userpolicy_info with unlimited
// lifetimes.
func encodeUserpolicyInfo(sel selector, dir, action uint8, priority uint32) []byte {
	b := make([]byte, sizeofUserpolicyInfo)
	putSelector(b[polSel:], sel)
	putLifetimeCfg(b[polLft:], Lifetime{})
	he.PutUint32(b[polPriority:], priority)
	b[polDir] = dir
	b[polAction] = action
	return b
}

// parseAcquire decodes an XFRM_MSG_ACQUIRE payload (xfrm_user_acquire and
// its attributes; the templates carry the reqid).
func parseAcquire(b []byte) (Event, error) {
	ev := Event{Kind: Acquire}
	if len(b) < sizeofUserAcquire {
		return ev, fmt.Errorf("xfrm_user_acquire: %d bytes, want %d", len(b), sizeofUserAcquire)
	}
	sel, err := parseSelector(b[acqSel:])
	if err != nil {
		return ev, fmt.Errorf("xfrm_user_acquire.sel: %w", err)
	}
	if sel.Family != 0 {
		ev.Src, ev.Dst = sel.Src.Addr(), sel.Dst.Addr()
	}
	pol, err := parseUserpolicyInfo(b[acqPolicy:])
	if err != nil {
		return ev, fmt.Errorf("xfrm_user_acquire.policy: %w", err)
	}
	if !ev.Dst.IsValid() && pol.Sel.Family != 0 {
		ev.Src, ev.Dst = pol.Sel.Src.Addr(), pol.Sel.Dst.Addr()
	}
	err = attrs(b[sizeofUserAcquire:], sizeofUserAcquire, func(typ uint16, data []byte) error {
		if typ != xfrmaTmpl {
			return nil
		}
		ts, err := parseTmpls(data)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if t.Proto == ipprotoESP {
				ev.Reqid = t.Reqid
				break
			}
		}
		return nil
	})
	if err != nil {
		return ev, fmt.Errorf("xfrm_user_acquire: %w", err)
	}
	if !ev.Dst.IsValid() {
		return ev, fmt.Errorf("xfrm_user_acquire: no flow addresses in selector or policy")
	}
	return ev, nil
}

// parseExpire decodes an XFRM_MSG_EXPIRE payload (xfrm_user_expire).
func parseExpire(b []byte) (Event, error) {
	if len(b) < sizeofUserExpire {
		return Event{}, fmt.Errorf("xfrm_user_expire: %d bytes, want %d", len(b), sizeofUserExpire)
	}
	st, err := parseUsersaInfo(b[expState:])
	if err != nil {
		return Event{}, fmt.Errorf("xfrm_user_expire.state: %w", err)
	}
	ev := Event{Kind: SoftExpire, Src: st.Src, Dst: st.Dst, SPI: st.SPI, Reqid: st.Reqid}
	if b[expHard] != 0 {
		ev.Kind = HardExpire
	}
	return ev, nil
}

// parseNotification decodes one XFRM multicast message. ok is false for
// message types the monitor does not report.
func parseNotification(typ uint16, payload []byte) (ev Event, ok bool, err error) {
	switch typ {
	case xfrmMsgAcquire:
		ev, err = parseAcquire(payload)
		return ev, true, err
	case xfrmMsgExpire:
		ev, err = parseExpire(payload)
		return ev, true, err
	}
	return Event{}, false, nil
}

// netlinkMessages splits a datagram from a netlink socket into
// (type, payload) pairs.
func netlinkMessages(b []byte, f func(typ, flags uint16, payload []byte) error) error {
	off := 0
	for len(b) >= sizeofNlmsghdr {
		n := int(he.Uint32(b[0:]))
		if n < sizeofNlmsghdr || n > len(b) {
			return fmt.Errorf("nlmsghdr at offset %d: length %d, %d bytes left", off, n, len(b))
		}
		if err := f(he.Uint16(b[4:]), he.Uint16(b[6:]), b[sizeofNlmsghdr:n]); err != nil {
			return err
		}
		n = (n + 3) &^ 3
		if n > len(b) {
			n = len(b)
		}
		b, off = b[n:], off+n
	}
	return nil
}

// kernelDir maps a Dir to the kernel's XFRM_POLICY_* direction.
func kernelDir(d Dir) uint8 {
	switch d {
	case DirIn:
		return xfrmPolicyIn
	case DirOut:
		return xfrmPolicyOut
	}
	return xfrmPolicyFwd
}

func dirFromKernel(d uint8) (Dir, bool) {
	switch d {
	case xfrmPolicyIn:
		return DirIn, true
	case xfrmPolicyOut:
		return DirOut, true
	case xfrmPolicyFwd:
		return DirFwd, true
	}
	return 0, false // socket policies
}

// ownedPolicy converts a dumped policy if it is metro's (see
// libPolicyOwned; socket policies and AF_UNSPEC selectors never are).
func ownedPolicy(kp *kernelPolicy) (Policy, bool) {
	dir, ok := dirFromKernel(kp.Dir)
	if !ok || kp.Sel.Family == 0 || kp.Marked {
		return Policy{}, false
	}
	p := Policy{
		Src: kp.Sel.Src, Dst: kp.Sel.Dst, Dir: dir, Proto: kp.Sel.Proto,
		SrcPort: kp.Sel.SrcPort, DstPort: kp.Sel.DstPort, Priority: kp.Priority,
	}
	for _, t := range kp.Tmpls {
		if t.Proto == ipprotoESP && OwnedReqid(t.Reqid) {
			p.Reqid = t.Reqid
			return p, true
		}
	}
	if len(kp.Tmpls) == 0 && kp.Action == xfrmPolicyAllow && kp.Priority == PriorityBypass {
		p.Bypass = true
		return p, true
	}
	return Policy{}, false
}

// encodeNewSA builds the body of XFRM_MSG_NEWSA for sa.
func encodeNewSA(sa *SA) []byte {
	b := encodeUsersaInfo(sa)
	if sa.AEAD != nil {
		b = putAttr(b, xfrmaAlgAEAD, encodeAlgo(sa.AEAD, sa.AEAD.ICVBits))
	}
	if sa.Crypt != nil {
		b = putAttr(b, xfrmaAlgCrypt, encodeAlgo(sa.Crypt, -1))
	}
	if sa.Auth != nil {
		b = putAttr(b, xfrmaAlgAuthTrunc, encodeAlgo(sa.Auth, sa.Auth.TruncBits))
	}
	if sa.Encap != nil {
		b = putAttr(b, xfrmaEncap, encodeEncap(sa.Encap))
	}
	if useESNAttr(sa) {
		b = putAttr(b, xfrmaReplayESNVal, encodeReplayESN(sa.ReplayWindow))
	}
	return b
}

// encodeSocketBypass builds the xfrm_userpolicy_info of a socket bypass
// policy: empty selector (prefix lengths 0, any protocol) of the socket's
// family (the kernel rejects AF_UNSPEC), unlimited lifetimes, action
// ALLOW, no templates.
func encodeSocketBypass(fam uint16, dir uint8) []byte {
	return encodeUserpolicyInfo(selector{Family: fam}, dir, xfrmPolicyAllow, 0)
}
