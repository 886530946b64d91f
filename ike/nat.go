package ike

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"net/netip"
	"time"

	"metro/ike/wire"
)

// NAT traversal (RFC 7296 2.23, RFC 3948).
//
// Both IKE_SA_INIT messages carry NAT_DETECTION_SOURCE_IP and
// NAT_DETECTION_DESTINATION_IP. When the hashes show a NAT between the
// hosts, the initiator moves the IKE SA to the NAT-traversal port (IKE
// messages there start with a four-byte non-ESP marker, which the
// transport adds and strips), ESP is encapsulated in UDP on that port, and
// the host behind the NAT sends keepalives so the mapping stays.

// KeepaliveInterval is how often a host behind a NAT sends a NAT-T
// keepalive (RFC 3948 4).
const KeepaliveInterval = 20 * time.Second

// Keepalive is the NAT-T keepalive datagram (RFC 3948 2.3). Transports send
// it on the NAT-traversal port without the non-ESP marker.
var Keepalive = []byte{0xff}

type evKeepalive struct{ sa *ikeSA }

// natHash is SHA-1(SPIi | SPIr | IP | Port), RFC 7296 2.23.
func natHash(spii, spir uint64, ap netip.AddrPort) []byte {
	h := sha1.New()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], spii)
	binary.BigEndian.PutUint64(b[8:], spir)
	h.Write(b[:])
	h.Write(ap.Addr().Unmap().AsSlice())
	h.Write(binary.BigEndian.AppendUint16(nil, ap.Port()))
	return h.Sum(nil)
}

// natNotifies returns the two NAT detection notifications of a message
// sent from src to dst.
func natNotifies(spii, spir uint64, src, dst netip.AddrPort) []wire.Payload {
	return []wire.Payload{
		&wire.Notify{NotifyType: wire.NAT_DETECTION_SOURCE_IP, Data: natHash(spii, spir, src)},
		&wire.Notify{NotifyType: wire.NAT_DETECTION_DESTINATION_IP, Data: natHash(spii, spir, dst)},
	}
}

// detectNAT reads the NAT detection notifications of a message that
// arrived from src at dst. supported is false when the peer sent none.
func detectNAT(ps []wire.Payload, spii, spir uint64, src, dst netip.AddrPort) (supported, peerBehind, usBehind bool) {
	var srcOK, dstOK, any bool
	for _, p := range ps {
		n, ok := p.(*wire.Notify)
		if !ok {
			continue
		}
		switch n.NotifyType {
		case wire.NAT_DETECTION_SOURCE_IP:
			any = true
			srcOK = srcOK || bytes.Equal(n.Data, natHash(spii, spir, src))
		case wire.NAT_DETECTION_DESTINATION_IP:
			any = true
			dstOK = dstOK || bytes.Equal(n.Data, natHash(spii, spir, dst))
		}
	}
	if !any {
		return false, false, false
	}
	return true, !srcOK, !dstOK
}

// armKeepalive schedules the next keepalive of an SA behind a NAT.
func (p *peer) armKeepalive(sa *ikeSA) {
	if !sa.usBehindNAT {
		return
	}
	time.AfterFunc(KeepaliveInterval, func() { p.post(evKeepalive{sa}) })
}

func (p *peer) keepalive(sa *ikeSA) {
	if sa.deleted || p.closing {
		return
	}
	p.transmit(Keepalive, sa.local, sa.remote)
	p.armKeepalive(sa)
}
