package ike

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"

	"metro/auth"
	"metro/ike/ikecrypto"
	"metro/ike/wire"
	"metro/xfrm"
)

// initRequest builds an IKE_SA_INIT request with our default proposals,
// plus extra payloads after the nonce.
func initRequest(t *testing.T, spi uint64, extra ...wire.Payload) []byte {
	t.Helper()
	props := ikecrypto.DefaultIKEProposals()
	ke := props[0].KE[0]
	share, err := ke.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &wire.Message{
		Header: wire.Header{SPIi: spi, Version: 0x20, Exchange: wire.IKE_SA_INIT, Flags: wire.FlagInitiator},
		Payloads: append([]wire.Payload{
			offer(props, wire.ProtoIKE, nil),
			&wire.KE{Group: ke.ID, Data: share.Public()},
			&wire.Nonce{Data: make([]byte, 32)},
		}, extra...),
	}
	return m.Marshal()
}

// RFC 7296 2.5: an unknown payload with the critical bit set is refused
// with UNSUPPORTED_CRITICAL_PAYLOAD naming its type; one without it is
// skipped and the exchange goes on.
func TestUnknownPayloads(t *testing.T) {
	cases := []struct {
		name     string
		critical bool
	}{{"critical", true}, {"non-critical", false}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				net := &memNet{}
				a := newHost(t, net, "10.0.0.1", Config{})
				remote := netip.MustParseAddr("10.0.0.9") // higher: a answers a crossed initiation
				if err := a.node.AddPeer(ctx, PeerConfig{Local: a.addr, Remote: remote, PSK: auth.Secret("k"), Reqid: xfrm.ReqidBase + 1}); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				const spi = 0x1122334455667788
				req := initRequest(t, spi, &wire.Unknown{PayloadType: 200, Critical: c.critical, Data: []byte{1, 2, 3}})
				a.node.Receive(req, netip.AddrPortFrom(a.addr, 500), netip.AddrPortFrom(remote, 500))
				synctest.Wait()
				var resp *wire.Message
				for _, m := range net.messages() {
					pm, err := wire.ParseMessage(m.b)
					if err == nil && pm.Header.IsResponse() && pm.Header.SPIi == spi {
						resp = pm
					}
				}
				if resp == nil {
					t.Fatalf("no answer to the IKE_SA_INIT request; log:\n%s", a.log())
				}
				n := findNotify(resp.Payloads, wire.UNSUPPORTED_CRITICAL_PAYLOAD)
				sa, _ := find[*wire.SA](resp.Payloads)
				if c.critical {
					if n == nil || len(n.Data) != 1 || n.Data[0] != 200 || sa != nil {
						t.Errorf("answer %+v, want only UNSUPPORTED_CRITICAL_PAYLOAD naming type 200", resp.Payloads)
					}
					if resp.Header.SPIr != 0 {
						t.Errorf("refusal created state: SPIr %x", resp.Header.SPIr)
					}
				} else if n != nil || sa == nil || resp.Header.SPIr == 0 {
					t.Errorf("answer %+v, want the exchange to go on (SA payload, SPIr set)", resp.Payloads)
				}
				finish(cancel, a)
			})
		})
	}
}
