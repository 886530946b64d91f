package control

import "time"

// Peer states reported in PeerStatus.State (the ike package's).
const (
	StateConnecting  = "connecting"  // negotiating, or (METRO_START=connect) about to retry
	StateEstablished = "established" // IKE SA and CHILD_SA up
	StateFailed      = "failed"      // the last negotiation failed (LastError says why)
	// StateIdle: METRO_START=on-demand, no SA and none being negotiated;
	// the pair's traffic is blocked until a packet to the peer (or the
	// peer) starts a negotiation. LastError says why an earlier SA went,
	// if it did not go cleanly.
	StateIdle = "idle"
)

// Peer authentication methods reported in PeerStatus.Auth.
const (
	AuthPSK  = "psk"
	AuthCert = "cert"
)

// Kernel backends reported in Status.Backend.
const (
	BackendNetlink = "netlink"
	BackendMemory  = "memory"
)

// Status is a snapshot of the daemon: who it is and the state of every
// configured peer. It is what `metroctl status --json` prints.
type Status struct {
	Version string       `json:"version"`
	PID     int          `json:"pid"`
	Since   time.Time    `json:"since"`   // when the daemon started
	Local   []string     `json:"local"`   // this host's addresses
	Backend string       `json:"backend"` // "netlink" or "memory"
	Peers   []PeerStatus `json:"peers"`
}

// PeerStatus is the state of one configured peer.
type PeerStatus struct {
	Remote    string        `json:"remote"`
	Local     string        `json:"local"`
	Auth      string        `json:"auth"`                 // "psk" or "cert"
	State     string        `json:"state"`                // "connecting", "established", "failed", "idle"
	LastError string        `json:"last_error,omitempty"` // e.g. "AUTHENTICATION_FAILED from peer"
	Since     time.Time     `json:"since,omitzero"`       // when State was entered
	Initiator bool          `json:"initiator"`            // we initiated the current IKE SA
	IKE       *IKESAStatus  `json:"ike,omitempty"`        // nil when there is no IKE SA
	Children  []ChildStatus `json:"children,omitempty"`

	// Certificate authentication only.
	PeerID      string    `json:"peer_id,omitempty"`
	CertSubject string    `json:"cert_subject,omitempty"`
	CertExpiry  time.Time `json:"cert_expiry,omitzero"`
}

// IKESAStatus describes an IKE SA. SPIs are 16 hex digits; algorithm names
// are whatever the daemon reports (for example "AES_GCM_16_256").
type IKESAStatus struct {
	SPIi        string    `json:"spi_i"`
	SPIr        string    `json:"spi_r"`
	Encr        string    `json:"encr,omitempty"`
	PRF         string    `json:"prf,omitempty"`
	Integ       string    `json:"integ,omitempty"`
	KE          string    `json:"ke,omitempty"`
	Established time.Time `json:"established,omitzero"`
	RekeyAt     time.Time `json:"rekey_at,omitzero"`
}

// ChildStatus describes a CHILD_SA (a pair of ESP SAs). SPIs are 8 hex
// digits; counters come from the kernel.
type ChildStatus struct {
	SPIIn       string    `json:"spi_in"`
	SPIOut      string    `json:"spi_out"`
	Encr        string    `json:"encr,omitempty"`
	Integ       string    `json:"integ,omitempty"`
	KE          string    `json:"ke,omitempty"`
	Mode        string    `json:"mode,omitempty"`
	Reqid       uint32    `json:"reqid"`
	BytesIn     uint64    `json:"bytes_in"`
	BytesOut    uint64    `json:"bytes_out"`
	PacketsIn   uint64    `json:"packets_in"`
	PacketsOut  uint64    `json:"packets_out"`
	Established time.Time `json:"established,omitzero"`
	RekeyAt     time.Time `json:"rekey_at,omitzero"`
}
