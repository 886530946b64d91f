package ike

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"metro/ike/ikecrypto"
	"metro/ike/wire"
	"metro/xfrm"
)

// TestBenchAcceptTunnel checks that an initiator refuses a CHILD_SA
// answer without USE_TRANSPORT_MODE (the responder chose tunnel mode)
// unless Config.BenchAcceptTunnel is set, and then installs both states.
func TestBenchAcceptTunnel(t *testing.T) {
	local, remote := netip.MustParseAddr("127.0.2.1"), netip.MustParseAddr("127.0.0.1")
	esp := suite{Encr: ikecrypto.EncrByID(wire.ENCR_AES_GCM_16, 256)}
	// The responder's answer in tunnel mode: SAr2, TSi, TSr, no notify.
	resp := []wire.Payload{
		accepted(esp, 1, wire.ProtoESP, []byte{0xc0, 0xff, 0xee, 0x01}),
		&wire.TS{Kind: wire.PayloadTSi, Selectors: []wire.Selector{hostSelector(local)}},
		&wire.TS{Kind: wire.PayloadTSr, Selectors: []wire.Selector{hostSelector(remote)}},
	}
	for _, accept := range []bool{false, true} {
		kernel := xfrm.NewMemory(nil)
		n := NewNode(Config{
			Log:               slog.New(slog.NewTextHandler(io.Discard, nil)),
			Kernel:            kernel,
			BenchAcceptTunnel: accept,
		})
		p := newPeer(context.Background(), n, PeerConfig{Local: local, Remote: remote, Reqid: 0x4d450007})
		sa := &ikeSA{
			initiator: true,
			suite:     suite{PRF: ikecrypto.PRFByID(wire.PRF_HMAC_SHA2_256)},
			keys:      ikecrypto.IKEKeys{SKd: bytes.Repeat([]byte{9}, 32)},
			ni:        bytes.Repeat([]byte{1}, 32),
			nr:        bytes.Repeat([]byte{2}, 32),
		}
		child := &childSA{spiIn: 0x11223344, reqid: 0x4d450007}
		err := p.acceptChild(sa, child, resp)
		if !accept {
			if err == nil || !strings.Contains(err.Error(), "transport mode") {
				t.Fatalf("without BenchAcceptTunnel: err = %v, want a transport mode refusal", err)
			}
			if sa.child != nil {
				t.Fatal("without BenchAcceptTunnel: CHILD_SA kept")
			}
			continue
		}
		if err != nil {
			t.Fatalf("with BenchAcceptTunnel: %v", err)
		}
		if sa.child != child || child.spiOut != 0xc0ffee01 {
			t.Fatalf("with BenchAcceptTunnel: child %+v, want outbound SPI c0ffee01", sa.child)
		}
		states, err := kernel.SAs()
		if err != nil || len(states) != 2 {
			t.Fatalf("with BenchAcceptTunnel: %d states installed (%v), want 2", len(states), err)
		}
	}
}
