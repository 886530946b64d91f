package ike

import (
	"encoding/binary"
	"fmt"

	"metro/ike/wire"
)

// find returns the first payload of type T.
func find[T wire.Payload](ps []wire.Payload) (T, bool) {
	for _, p := range ps {
		if t, ok := p.(T); ok {
			return t, true
		}
	}
	var zero T
	return zero, false
}

// findNotify returns the first notification of type t.
func findNotify(ps []wire.Payload, t wire.NotifyType) *wire.Notify {
	for _, p := range ps {
		if n, ok := p.(*wire.Notify); ok && n.NotifyType == t {
			return n
		}
	}
	return nil
}

// findTS returns the TSi and TSr payloads.
func findTS(ps []wire.Payload) (tsi, tsr *wire.TS) {
	for _, p := range ps {
		if t, ok := p.(*wire.TS); ok {
			switch t.Kind {
			case wire.PayloadTSi:
				tsi = t
			case wire.PayloadTSr:
				tsr = t
			}
		}
	}
	return tsi, tsr
}

// notifyError is an error notification received from the peer.
type notifyError struct{ t wire.NotifyType }

func (e *notifyError) Error() string {
	switch e.t {
	case wire.AUTHENTICATION_FAILED:
		return "authentication failed: peer answered AUTHENTICATION_FAILED (different pre-shared keys on the two hosts, or the peer rejects our certificate: see its log)"
	case wire.NO_PROPOSAL_CHOSEN:
		return "peer answered NO_PROPOSAL_CHOSEN (no common algorithms, or we are not its configured peer)"
	}
	return "peer answered " + notifyName(e.t)
}

// errorNotify returns the first error notification in ps as an error.
func errorNotify(ps []wire.Payload) error {
	for _, p := range ps {
		if n, ok := p.(*wire.Notify); ok && n.NotifyType.IsError() {
			return &notifyError{n.NotifyType}
		}
	}
	return nil
}

// notifyGroup reads the group an INVALID_KE_PAYLOAD notification asks for.
func notifyGroup(n *wire.Notify) uint16 {
	if len(n.Data) != 2 {
		return 0
	}
	return binary.BigEndian.Uint16(n.Data)
}

func beUint32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

var notifyNames = map[wire.NotifyType]string{
	wire.UNSUPPORTED_CRITICAL_PAYLOAD: "UNSUPPORTED_CRITICAL_PAYLOAD",
	wire.INVALID_IKE_SPI:              "INVALID_IKE_SPI",
	wire.INVALID_MAJOR_VERSION:        "INVALID_MAJOR_VERSION",
	wire.INVALID_SYNTAX:               "INVALID_SYNTAX",
	wire.INVALID_MESSAGE_ID:           "INVALID_MESSAGE_ID",
	wire.INVALID_SPI:                  "INVALID_SPI",
	wire.NO_PROPOSAL_CHOSEN:           "NO_PROPOSAL_CHOSEN",
	wire.INVALID_KE_PAYLOAD:           "INVALID_KE_PAYLOAD",
	wire.AUTHENTICATION_FAILED:        "AUTHENTICATION_FAILED",
	wire.SINGLE_PAIR_REQUIRED:         "SINGLE_PAIR_REQUIRED",
	wire.NO_ADDITIONAL_SAS:            "NO_ADDITIONAL_SAS",
	wire.INTERNAL_ADDRESS_FAILURE:     "INTERNAL_ADDRESS_FAILURE",
	wire.FAILED_CP_REQUIRED:           "FAILED_CP_REQUIRED",
	wire.TS_UNACCEPTABLE:              "TS_UNACCEPTABLE",
	wire.INVALID_SELECTORS:            "INVALID_SELECTORS",
	wire.TEMPORARY_FAILURE:            "TEMPORARY_FAILURE",
	wire.CHILD_SA_NOT_FOUND:           "CHILD_SA_NOT_FOUND",
}

func notifyName(t wire.NotifyType) string {
	if s, ok := notifyNames[t]; ok {
		return s
	}
	return fmt.Sprintf("notification %d", t)
}
