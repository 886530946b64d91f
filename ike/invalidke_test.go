package ike

import (
	"context"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"

	"metro/auth"
	"metro/ike/wire"
	"metro/xfrm"
)

// A peer that answers INVALID_KE_PAYLOAD naming the very group we sent a
// key share for gets no pointless retry, and the error says why.
func TestInvalidKEForTheGroupWeSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		remote := netip.MustParseAddr("10.0.0.9")
		net := &memNet{}
		var a *testHost
		requests := 0
		net.drop = func(b []byte, from, to netip.AddrPort) bool {
			m, err := wire.ParseMessage(b)
			if err != nil || to.Addr() != remote || m.Header.Exchange != wire.IKE_SA_INIT || m.Header.IsResponse() {
				return false
			}
			requests++
			ke, _ := find[*wire.KE](m.Payloads)
			resp := &wire.Message{
				Header:   wire.Header{SPIi: m.Header.SPIi, Version: 0x20, Exchange: wire.IKE_SA_INIT, Flags: wire.FlagResponse},
				Payloads: []wire.Payload{&wire.Notify{NotifyType: wire.INVALID_KE_PAYLOAD, Data: binary.BigEndian.AppendUint16(nil, ke.Group)}},
			}
			go a.node.Receive(resp.Marshal(), from, to)
			return true
		}
		a = newHost(t, net, "10.0.0.1", Config{})
		if err := a.node.AddPeer(ctx, PeerConfig{Local: a.addr, Remote: remote, PSK: auth.Secret("k"), Reqid: xfrm.ReqidBase + 1}); err != nil {
			t.Fatal(err)
		}
		p := waitState(t, a, StateFailed)
		if !strings.Contains(p.LastError, "the one we sent a key share for") {
			t.Errorf("last error %q does not explain the refusal", p.LastError)
		}
		if requests != 1 {
			t.Errorf("%d IKE_SA_INIT requests before giving up, want 1 (no retry with the same group)", requests)
		}
		finish(cancel, a)
	})
}
