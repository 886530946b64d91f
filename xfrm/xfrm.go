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
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// Reqid range owned by metro.
const (
	ReqidBase uint32 = 0x4d450000 // "ME"
	ReqidSpan uint32 = 0x10000
)

// OwnedReqid reports whether reqid lies in metro's range.
func OwnedReqid(reqid uint32) bool {
	return reqid >= ReqidBase && reqid-ReqidBase < ReqidSpan
}

// Errors shared by the implementations.
var (
	// ErrNotFound is returned for a state that is not in the kernel.
	ErrNotFound = errors.New("xfrm: no such state")
	// ErrNotOwned is returned when an operation would touch a state or
	// policy that metro did not install (its reqid or priority is foreign).
	ErrNotOwned = errors.New("xfrm: entry is not owned by metro")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("xfrm: kernel handle closed")
)

// MaxReplayWindow is the largest anti-replay window the kernel accepts
// (XFRMA_REPLAY_ESN_MAX, 4096 bits).
const MaxReplayWindow = 4096

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
//
// Algo's String, GoString and LogValue methods never show the key, so an SA
// may be logged or printed with %v safely.
type Algo struct {
	Name      string
	Key       []byte
	ICVBits   int // AEAD ICV length in bits
	TruncBits int // integrity truncation length in bits (auth algorithms)
}

// String describes the algorithm without its key.
func (a Algo) String() string {
	s := fmt.Sprintf("%s(%d-bit key", a.Name, 8*len(a.Key))
	if a.ICVBits != 0 {
		s += fmt.Sprintf(", icv %d", a.ICVBits)
	}
	if a.TruncBits != 0 {
		s += fmt.Sprintf(", trunc %d", a.TruncBits)
	}
	return s + ")"
}

// GoString is String: %#v must not reveal the key either.
func (a Algo) GoString() string { return "xfrm.Algo{" + a.String() + "}" }

// LogValue implements slog.LogValuer without the key.
func (a Algo) LogValue() slog.Value { return slog.StringValue(a.String()) }

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
//
// Exactly one of AEAD or the pair Crypt+Auth must be set (ESP with NULL
// encryption is Crypt "ecb(cipher_null)" with an empty key plus Auth).
// Reqid must be in metro's range. Inbound states need a ReplayWindow; ESN
// states need one in both directions (a kernel requirement). Windows above
// 32 are installed with XFRMA_REPLAY_ESN_VAL (bitmap mode).
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
	UseTime        time.Time // first use; zero if the state never carried a packet
	ReplayWindow   uint32    // the anti-replay window the kernel enforces
	ReplayDrops    uint32    // packets dropped as replays
	IntegrityFails uint32    // packets dropped for a bad ICV
}

// Policy protects (Reqid in metro's range, with an ESP transport template)
// or bypasses (Reqid == 0, Bypass true, Priority == PriorityBypass) traffic
// between Src and Dst. Selectors are masked prefixes of one family; ports
// need a Proto. See Validate.
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
	// AllocSPI reserves a fresh inbound SPI (>= 0x100) for an SA from src
	// to dst: no state with (dst, spi) exists and no other AllocSPI of this
	// Kernel returned it recently.
	AllocSPI(src, dst netip.Addr, reqid uint32) (uint32, error)
	// AddSA installs a state; an existing state with the same (dst, spi) is
	// replaced if metro owns it (ErrNotOwned otherwise). A state with a
	// ReplayWindow is read back and rejected if the kernel reports none.
	AddSA(sa SA) error
	// DeleteSA removes the state; a missing state is not an error, a
	// foreign one is ErrNotOwned.
	DeleteSA(dst netip.Addr, spi uint32) error
	// SAStats returns the kernel counters of a state (ErrNotFound if missing).
	SAStats(dst netip.Addr, spi uint32) (SAStats, error)
	// SAs lists the ESP states metro owns (reqid in range, SPI != 0).
	// Netlink does not read keys back (Algo.Key is nil); Memory returns
	// copies of the keys it was given.
	SAs() ([]SA, error)
	// SetPolicy installs or updates a policy (identity: Src, Dst, Dir, Proto,
	// ports). A foreign policy with the same identity is ErrNotOwned.
	SetPolicy(p Policy) error
	// DeletePolicy removes a policy; a missing policy is not an error, a
	// foreign one is ErrNotOwned.
	DeletePolicy(p Policy) error
	// Policies lists the policies metro owns.
	Policies() ([]Policy, error)
	// Close releases resources.
	Close() error
}

// String describes the policy, e.g. "192.0.2.1/32->192.0.2.2/32 out
// esp reqid 0x4d450001 prio 2000" or "... in proto 58 ports 135/0 bypass
// prio 1000".
func (p Policy) String() string {
	s := fmt.Sprintf("%v->%v %v", p.Src, p.Dst, p.Dir)
	if p.Proto != 0 {
		s += fmt.Sprintf(" proto %d", p.Proto)
		if p.SrcPort != 0 || p.DstPort != 0 {
			s += fmt.Sprintf(" ports %d/%d", p.SrcPort, p.DstPort)
		}
	}
	if p.Bypass {
		s += " bypass"
	} else {
		s += fmt.Sprintf(" esp reqid %#x", p.Reqid)
	}
	return s + fmt.Sprintf(" prio %d", p.Priority)
}
