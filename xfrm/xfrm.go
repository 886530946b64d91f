// Package xfrm owns everything metro installs in the kernel's IPsec tables:
// ESP states, the policies that force traffic between peers through them,
// bypass policies for IKE sockets and IPv6 neighbour discovery, and the
// monitor of kernel ACQUIRE/EXPIRE events. It is the only package that talks
// XFRM netlink. The Kernel interface has two implementations: Netlink (the
// real kernel) and Memory (an in-memory table for tests and dry runs).
//
// metro marks what it owns by reqid: every state and policy template it
// installs carries a reqid in [ReqidBase, ReqidBase+ReqidSpan). Bypass
// policies carry the priority PriorityBypass. Nothing else in the host's
// IPsec tables is touched.
package xfrm

import (
	"net/netip"
	"time"
)

// Reqid range owned by metro.
const (
	ReqidBase uint32 = 0x4d450000 // "ME"
	ReqidSpan uint32 = 0x10000
)

// Policy priorities (lower value wins in the kernel).
const (
	PriorityBypass  uint32 = 1000 // ND bypass: above the protecting policies
	PriorityProtect uint32 = 2000 // host-pair ESP policies
)

// Dir is a policy direction.
type Dir uint8

const (
	DirOut Dir = iota
	DirIn
	DirFwd
)

func (d Dir) String() string {
	switch d {
	case DirOut:
		return "out"
	case DirIn:
		return "in"
	case DirFwd:
		return "fwd"
	}
	return "?"
}

// Algo is a kernel crypto algorithm with its key.
// Name is the kernel name, e.g. "rfc4106(gcm(aes))" (Key includes the 4-byte salt),
// "rfc7539esp(chacha20,poly1305)", "cbc(aes)", "hmac(sha256)".
type Algo struct {
	Name      string
	Key       []byte
	ICVBits   int // AEAD ICV length in bits
	TruncBits int // integrity truncation length in bits (auth algorithms)
}

// Encap is UDP encapsulation of ESP (NAT traversal, RFC 3948).
type Encap struct {
	SrcPort, DstPort uint16
}

// Lifetime holds kernel soft/hard limits; zero means unlimited.
type Lifetime struct {
	SoftBytes, HardBytes     uint64
	SoftPackets, HardPackets uint64
	SoftAdd, HardAdd         time.Duration
}

// SA is one ESP state in transport mode.
type SA struct {
	Src, Dst     netip.Addr
	SPI          uint32
	Reqid        uint32
	AEAD         *Algo  // AEAD cipher, or
	Crypt        *Algo  // cipher plus
	Auth         *Algo  // integrity
	ReplayWindow uint32 // inbound states: must be non-zero
	ESN          bool
	Encap        *Encap
	Lifetime     Lifetime
}

// SAStats are the counters the kernel keeps for a state.
type SAStats struct {
	Bytes, Packets uint64
	AddTime        time.Time
	ReplayWindow   uint32
}

// Policy protects (Reqid != 0, with an ESP transport template) or bypasses
// (Reqid == 0, Bypass true) traffic between Src and Dst.
type Policy struct {
	Src, Dst netip.Prefix
	Dir      Dir
	Proto    uint8  // 0 = any
	SrcPort  uint16 // for ICMPv6: type
	DstPort  uint16 // for ICMPv6: code
	Priority uint32
	Reqid    uint32 // template reqid (protecting policies)
	Bypass   bool
}

// Kernel is the part of the kernel's IPsec tables metro uses.
// Implementations must be safe for concurrent use.
type Kernel interface {
	// AllocSPI reserves a fresh inbound SPI for an SA from src to dst.
	AllocSPI(src, dst netip.Addr, reqid uint32) (uint32, error)
	// AddSA installs a state; an existing state with the same (dst, spi) is replaced.
	AddSA(sa SA) error
	// DeleteSA removes the state; a missing state is not an error.
	DeleteSA(dst netip.Addr, spi uint32) error
	// SAStats returns the kernel counters of a state.
	SAStats(dst netip.Addr, spi uint32) (SAStats, error)
	// SAs lists the states metro owns.
	SAs() ([]SA, error)
	// SetPolicy installs or updates a policy (identity: Src, Dst, Dir, Proto, ports).
	SetPolicy(p Policy) error
	// DeletePolicy removes a policy; a missing policy is not an error.
	DeletePolicy(p Policy) error
	// Policies lists the policies metro owns.
	Policies() ([]Policy, error)
	// Close releases resources.
	Close() error
}
