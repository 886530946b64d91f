package xfrm

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The messages below are built byte by byte from the offsets in
// linux/xfrm.h, written as literals, independently of layout.go.

var ne = binary.NativeEndian

// rawSelector writes an xfrm_selector at b[0:56].
func rawSelector(b []byte, fam uint16, src, dst netip.Addr, plen uint8, proto uint8, sport, dport uint16) {
	copy(b[0:16], dst.AsSlice())  // daddr
	copy(b[16:32], src.AsSlice()) // saddr
	binary.BigEndian.PutUint16(b[32:], dport)
	binary.BigEndian.PutUint16(b[34:], 0xffff)
	binary.BigEndian.PutUint16(b[36:], sport)
	binary.BigEndian.PutUint16(b[38:], 0xffff)
	ne.PutUint16(b[40:], fam)
	b[42], b[43] = plen, plen
	b[44] = proto
	ne.PutUint32(b[48:], 1) // ifindex
}

// rawTmpl is an xfrm_user_tmpl (64 bytes) for ESP transport with reqid.
func rawTmpl(fam uint16, reqid uint32) []byte {
	b := make([]byte, 64)
	b[20] = 50 // id.proto
	ne.PutUint16(b[24:], fam)
	ne.PutUint32(b[44:], reqid)
	b[48] = 0 // transport
	ne.PutUint32(b[52:], 0xffffffff)
	return b
}

func rawAttr(typ uint16, data []byte) []byte {
	b := make([]byte, 4, 4+len(data)+3)
	ne.PutUint16(b[0:], uint16(4+len(data)))
	ne.PutUint16(b[2:], typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// rawAcquire is an XFRM_MSG_ACQUIRE payload as xfrm_send_acquire builds it.
func rawAcquire(fam uint16, src, dst netip.Addr, reqid uint32) []byte {
	b := make([]byte, 280)
	copy(b[0:16], dst.AsSlice())  // id.daddr
	b[20] = 50                    // id.proto
	copy(b[24:40], src.AsSlice()) // saddr
	plen := uint8(src.BitLen())
	rawSelector(b[40:96], fam, src, dst, plen, 17, 4500, 500) // the flow
	// policy: its selector is the host pair, then lft, curlft, priority...
	rawSelector(b[96:152], fam, src, dst, plen, 0, 0, 0)
	ne.PutUint32(b[96+152:], 2000)                 // priority
	b[96+160] = 1                                  // dir out
	ne.PutUint32(b[276:], 77)                      // seq
	b = append(b, rawAttr(16, make([]byte, 8))...) // XFRMA_POLICY_TYPE, ignored
	tmpls := append(rawTmpl(fam, 1), rawTmpl(fam, reqid)...)
	tmpls[20] = 51 // the first template is AH: the reqid comes from the ESP one
	return append(b, rawAttr(5, tmpls)...)
}

func TestParseAcquire(t *testing.T) {
	for _, c := range []struct {
		fam      uint16
		src, dst string
	}{{2, "192.0.2.1", "198.51.100.7"}, {10, "2001:db8::1", "2001:db8:1::ff"}} {
		src, dst := mustAddr(c.src), mustAddr(c.dst)
		b := rawAcquire(c.fam, src, dst, ReqidBase+42)
		ev, ok, err := parseNotification(0x17, b)
		if err != nil || !ok {
			t.Fatalf("%v: parse: ok=%v err=%v", src, ok, err)
		}
		want := Event{Kind: Acquire, Src: src, Dst: dst, Reqid: ReqidBase + 42}
		if ev != want {
			t.Errorf("got %+v, want %+v", ev, want)
		}
	}
}

// rawExpire is an XFRM_MSG_EXPIRE payload: xfrm_usersa_info + hard flag.
func rawExpire(fam uint16, src, dst netip.Addr, spi, reqid uint32, hard bool) []byte {
	b := make([]byte, 232)
	rawSelector(b[0:56], fam, src, dst, uint8(src.BitLen()), 0, 0, 0)
	copy(b[56:72], dst.AsSlice())           // id.daddr
	binary.BigEndian.PutUint32(b[72:], spi) // id.spi
	b[76] = 50                              // id.proto
	copy(b[80:96], src.AsSlice())           // saddr
	ne.PutUint64(b[160:], 12345)            // curlft.bytes
	ne.PutUint32(b[208:], reqid)
	ne.PutUint16(b[212:], fam)
	b[215] = 32 // replay_window
	if hard {
		b[224] = 1
	}
	return b
}

func TestParseExpire(t *testing.T) {
	src, dst := mustAddr("2001:db8::1"), mustAddr("2001:db8::2")
	for _, hard := range []bool{false, true} {
		ev, ok, err := parseNotification(0x18, rawExpire(10, src, dst, 0xc0ffee01, ReqidBase+3, hard))
		if err != nil || !ok {
			t.Fatalf("parse: ok=%v err=%v", ok, err)
		}
		want := Event{Kind: SoftExpire, Src: src, Dst: dst, SPI: 0xc0ffee01, Reqid: ReqidBase + 3}
		if hard {
			want.Kind = HardExpire
		}
		if ev != want {
			t.Errorf("got %+v, want %+v", ev, want)
		}
	}
	src4, dst4 := mustAddr("10.1.2.3"), mustAddr("10.3.2.1")
	ev, _, err := parseNotification(0x18, rawExpire(2, src4, dst4, 0x100, ReqidBase, true))
	if err != nil || ev.Src != src4 || ev.Dst != dst4 || ev.SPI != 0x100 {
		t.Errorf("IPv4 expire: %+v, %v", ev, err)
	}
}

func TestParseNotificationErrors(t *testing.T) {
	src, dst := mustAddr("192.0.2.1"), mustAddr("192.0.2.2")
	acq := rawAcquire(2, src, dst, ReqidBase)
	badFam := rawExpire(2, src, dst, 0x1000, ReqidBase, false)
	ne.PutUint16(badFam[212:], 99)
	badAttr := append([]byte(nil), acq...)
	ne.PutUint16(badAttr[280:], 200) // first attribute claims more than is left
	badPrefix := append([]byte(nil), acq...)
	badPrefix[40+42] = 33 // prefixlen_d 33 for IPv4
	for name, c := range map[string]struct {
		typ     uint16
		b       []byte
		errPart string
	}{
		"short acquire":   {0x17, acq[:279], "xfrm_user_acquire: 279 bytes"},
		"short expire":    {0x18, badFam[:231], "xfrm_user_expire: 231 bytes"},
		"bad family":      {0x18, badFam, "unknown family 99 at offset 212"},
		"bad attribute":   {0x17, badAttr, "offset 280"},
		"bad prefix":      {0x17, badPrefix, "prefixlen_d 33"},
		"odd tmpl length": {0x17, append(acq[:280:280], rawAttr(5, make([]byte, 63))...), "not a multiple of 64"},
	} {
		_, _, err := parseNotification(c.typ, c.b)
		if err == nil || !strings.Contains(err.Error(), c.errPart) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, c.errPart)
		}
	}
	if _, ok, err := parseNotification(0x1b, make([]byte, 10)); ok || err != nil {
		t.Errorf("POLEXPIRE: ok=%v err=%v, want ignored", ok, err)
	}
}

func TestNetlinkMessages(t *testing.T) {
	src, dst := mustAddr("192.0.2.1"), mustAddr("192.0.2.2")
	var dgram []byte
	for _, m := range []struct {
		typ uint16
		p   []byte
	}{{0x17, rawAcquire(2, src, dst, ReqidBase+1)}, {0x18, rawExpire(2, src, dst, 0x1234, ReqidBase+1, true)}} {
		h := make([]byte, 16)
		ne.PutUint32(h[0:], uint32(16+len(m.p)))
		ne.PutUint16(h[4:], m.typ)
		dgram = append(append(dgram, h...), m.p...)
	}
	var kinds []EventKind
	err := netlinkMessages(dgram, func(typ, _ uint16, p []byte) error {
		ev, ok, err := parseNotification(typ, p)
		if err != nil || !ok {
			t.Fatalf("type %#x: ok=%v err=%v", typ, ok, err)
		}
		kinds = append(kinds, ev.Kind)
		return nil
	})
	if err != nil || len(kinds) != 2 || kinds[0] != Acquire || kinds[1] != HardExpire {
		t.Fatalf("kinds %v, err %v", kinds, err)
	}
	ne.PutUint32(dgram[0:], 5)
	if err := netlinkMessages(dgram, func(uint16, uint16, []byte) error { return nil }); err == nil {
		t.Error("nlmsghdr with length 5 accepted")
	}
}

// TestStateEncoding checks the XFRM_MSG_NEWSA body against the offsets of
// linux/xfrm.h and that parseState reads back what was encoded.
func TestStateEncoding(t *testing.T) {
	sa := gcmSA(mustAddr("192.0.2.1"), mustAddr("192.0.2.2"), 0xdeadbeef)
	sa.Lifetime = Lifetime{SoftBytes: 1000, HardBytes: 2000, SoftAdd: 1500 * time.Millisecond, HardAdd: 3 * time.Second}
	b := encodeNewSA(&sa)
	// Fixed part.
	if got := binary.BigEndian.Uint32(b[72:]); got != 0xdeadbeef {
		t.Errorf("id.spi = %08x", got)
	}
	if b[76] != 50 || ne.Uint16(b[212:]) != 2 || b[214] != 0 {
		t.Errorf("proto %d family %d mode %d", b[76], ne.Uint16(b[212:]), b[214])
	}
	if !bytes.Equal(b[56:60], []byte{192, 0, 2, 2}) || !bytes.Equal(b[80:84], []byte{192, 0, 2, 1}) {
		t.Errorf("daddr % x saddr % x", b[56:60], b[80:84])
	}
	if ne.Uint32(b[208:]) != sa.Reqid || b[215] != 0 || b[216] != 0 {
		t.Errorf("reqid %#x legacy window %d flags %#x", ne.Uint32(b[208:]), b[215], b[216])
	}
	if ne.Uint64(b[96:]) != 1000 || ne.Uint64(b[104:]) != 2000 || ne.Uint64(b[112:]) != ^uint64(0) ||
		ne.Uint64(b[128:]) != 2 || ne.Uint64(b[136:]) != 3 {
		t.Errorf("lifetime bytes % x", b[96:160])
	}
	if b[42] != 32 || b[43] != 32 || ne.Uint16(b[40:]) != 2 {
		t.Errorf("selector prefixes %d/%d family %d", b[42], b[43], ne.Uint16(b[40:]))
	}
	// Attributes: AEAD then XFRMA_REPLAY_ESN_VAL (window 64 > 32).
	a := b[224:]
	if typ := ne.Uint16(a[2:]); typ != 18 || ne.Uint16(a[0:]) != 4+72+20 {
		t.Fatalf("first attribute type %d len %d", typ, ne.Uint16(a[0:]))
	}
	if name := string(bytes.TrimRight(a[4:68], "\x00")); name != "rfc4106(gcm(aes))" {
		t.Errorf("alg_name %q", name)
	}
	if ne.Uint32(a[68:]) != 160 || ne.Uint32(a[72:]) != 128 || !bytes.Equal(a[76:96], sa.AEAD.Key) {
		t.Errorf("alg_key_len %d alg_icv_len %d", ne.Uint32(a[68:]), ne.Uint32(a[72:]))
	}
	r := a[96:]
	if typ := ne.Uint16(r[2:]); typ != 23 || ne.Uint16(r[0:]) != 4+24+8 {
		t.Fatalf("second attribute type %d len %d", typ, ne.Uint16(r[0:]))
	}
	if ne.Uint32(r[4:]) != 2 || ne.Uint32(r[24:]) != 64 {
		t.Errorf("bmp_len %d replay_window %d", ne.Uint32(r[4:]), ne.Uint32(r[24:]))
	}

	st, err := parseState(b)
	if err != nil {
		t.Fatal(err)
	}
	if st.Src != sa.Src || st.Dst != sa.Dst || st.SPI != sa.SPI || st.Reqid != sa.Reqid || st.ReplayWindow != 64 ||
		st.Lifetime != (Lifetime{SoftBytes: 1000, HardBytes: 2000, SoftAdd: 2 * time.Second, HardAdd: 3 * time.Second}) ||
		st.AEAD == nil || st.AEAD.Name != sa.AEAD.Name || st.AEAD.ICVBits != 128 || st.AEAD.Key != nil || st.Larval {
		t.Errorf("parsed %+v", st)
	}
}

func TestStateEncodingVariants(t *testing.T) {
	// CBC+HMAC, IPv6, ESN, UDP encapsulation, small window.
	sa := cbcSA(mustAddr("2001:db8::1"), mustAddr("2001:db8::2"), 0x1000)
	sa.ESN, sa.ReplayWindow = true, 32
	sa.Encap = &Encap{SrcPort: 4500, DstPort: 4501}
	b := encodeNewSA(&sa)
	if b[216] != 128 || b[215] != 0 {
		t.Errorf("ESN: flags %#x legacy window %d", b[216], b[215])
	}
	if ne.Uint16(b[40:]) != 0 {
		t.Errorf("encapsulated state has selector family %d, want AF_UNSPEC", ne.Uint16(b[40:]))
	}
	st, err := parseState(b)
	if err != nil {
		t.Fatal(err)
	}
	if st.Crypt == nil || st.Crypt.Name != "cbc(aes)" || st.Auth == nil || st.Auth.Name != "hmac(sha256)" || st.Auth.TruncBits != 128 {
		t.Errorf("algorithms %v %v", st.Crypt, st.Auth)
	}
	if !st.ESN || st.ReplayWindow != 32 || st.Encap == nil || *st.Encap != *sa.Encap || st.Encaped != 2 {
		t.Errorf("esn %v window %d encap %v type %d", st.ESN, st.ReplayWindow, st.Encap, st.Encaped)
	}
	if st.Src != sa.Src || st.Dst != sa.Dst {
		t.Errorf("addresses %v %v", st.Src, st.Dst)
	}

	// Legacy window: no ESN attribute, window in the 8-bit field.
	sa2 := gcmSA(mustAddr("192.0.2.1"), mustAddr("192.0.2.2"), 0x2000)
	sa2.ReplayWindow = 32
	b = encodeNewSA(&sa2)
	if b[215] != 32 || len(b) != 224+4+72+20 {
		t.Errorf("legacy window %d, body %d bytes", b[215], len(b))
	}
}

func TestSocketBypassEncoding(t *testing.T) {
	for _, fam := range []uint16{2, 10} {
		for _, dir := range []uint8{0, 1} {
			b := encodeSocketBypass(fam, dir)
			if len(b) != 168 {
				t.Fatalf("xfrm_userpolicy_info is %d bytes, want 168", len(b))
			}
			if ne.Uint16(b[40:]) != fam || b[42] != 0 || b[43] != 0 || b[44] != 0 {
				t.Errorf("selector family %d prefixes %d/%d proto %d", ne.Uint16(b[40:]), b[42], b[43], b[44])
			}
			for off := 56; off < 88; off += 8 { // byte and packet limits
				if ne.Uint64(b[off:]) != ^uint64(0) {
					t.Errorf("lft at %d = %d, want XFRM_INF", off, ne.Uint64(b[off:]))
				}
			}
			if b[160] != dir || b[161] != 0 || ne.Uint32(b[152:]) != 0 {
				t.Errorf("dir %d action %d priority %d", b[160], b[161], ne.Uint32(b[152:]))
			}
			if !allZero(b[0:40]) || !allZero(b[88:152]) || !allZero(b[162:]) {
				t.Error("stray bytes in addresses, times or padding")
			}
		}
	}
}

func TestPolicyParse(t *testing.T) {
	src, dst := mustAddr("2001:db8::"), mustAddr("2001:db8::2") // low 96 bits zero: still IPv6
	b := make([]byte, 168)
	rawSelector(b[0:56], 10, src, dst, 128, 58, 135, 0)
	ne.PutUint32(b[152:], 2000)
	b[160] = 0 // in
	b = append(b, rawAttr(5, rawTmpl(10, ReqidBase+8))...)
	kp, err := parsePolicy(b)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := ownedPolicy(&kp)
	want := Policy{Src: netip.PrefixFrom(src, 128), Dst: netip.PrefixFrom(dst, 128), Dir: DirIn, Proto: 58, SrcPort: 135,
		Priority: 2000, Reqid: ReqidBase + 8}
	if !ok || p != want {
		t.Errorf("got %v (owned %v), want %v", p, ok, want)
	}
	marked := append(b[:len(b):len(b)], rawAttr(21, make([]byte, 8))...)
	kp, _ = parsePolicy(marked)
	if _, ok := ownedPolicy(&kp); ok {
		t.Error("a policy with a mark is listed as metro's")
	}
	b[160] = 4 // socket policy direction
	kp, _ = parsePolicy(b)
	if _, ok := ownedPolicy(&kp); ok {
		t.Error("a socket policy is listed as metro's")
	}
}
