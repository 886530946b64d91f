package xfrm

import (
	"fmt"
	"net/netip"
)

// EventKind says what the kernel reported.
type EventKind uint8

const (
	// Acquire: a packet matched a protecting policy that has no state;
	// the daemon should negotiate a CHILD_SA for Reqid between Src and Dst.
	Acquire EventKind = iota + 1
	// SoftExpire: a state reached a soft limit; rekey it.
	SoftExpire
	// HardExpire: the kernel deleted a state that reached a hard limit.
	HardExpire
	// Resync: the monitor socket overflowed (ENOBUFS) or truncated a
	// datagram, so notifications were lost; the receiver must compare
	// what it believes installed with the kernel's tables (Kernel.SAs).
	// The monitor keeps running and sends the notifications after it.
	Resync
)

func (k EventKind) String() string {
	switch k {
	case Acquire:
		return "acquire"
	case SoftExpire:
		return "soft-expire"
	case HardExpire:
		return "hard-expire"
	case Resync:
		return "resync"
	}
	return fmt.Sprintf("EventKind(%d)", k)
}

// Event is one kernel notification. For Acquire, Src and Dst are the
// addresses of the triggering flow and Reqid that of the policy template;
// for expiries they are those of the state (Dst, SPI identify it).
type Event struct {
	Kind     EventKind
	Src, Dst netip.Addr
	SPI      uint32
	Reqid    uint32
}

func (e Event) String() string {
	switch e.Kind {
	case Acquire:
		return fmt.Sprintf("acquire %v->%v reqid %#x", e.Src, e.Dst, e.Reqid)
	case SoftExpire, HardExpire:
		return fmt.Sprintf("%v %v->%v spi %08x reqid %#x", e.Kind, e.Src, e.Dst, e.SPI, e.Reqid)
	}
	return e.Kind.String()
}
