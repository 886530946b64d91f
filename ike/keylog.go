package ike

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"sync"

	"metro/ike/ikecrypto"
	"metro/ike/wire"
)

// KeyLogger receives the secret keys of every IKE SA and ESP SA a Node sets
// up, so that captures can be decrypted (like strongSwan's save-keys
// plugin). It is for debugging only: whoever reads its output can read and
// forge all protected traffic. Calls come from several peers' goroutines at
// once.
type KeyLogger interface {
	// IKESA is called when the keys of an IKE SA are derived.
	IKESA(k IKESAKeys)
	// ESPSA is called for each direction of a CHILD_SA when it is installed.
	ESPSA(k ESPSAKeys)
}

// IKESAKeys are the keys protecting an IKE SA's encrypted payloads.
// Integ is nil with an AEAD cipher.
type IKESAKeys struct {
	SPIi, SPIr uint64
	Encr       *ikecrypto.Encr
	Integ      *ikecrypto.Integ
	SKei, SKer []byte // with the salt for AEAD ciphers
	SKai, SKar []byte
}

// ESPSAKeys are the keys of one ESP SA (one direction). Integ is nil with
// an AEAD cipher.
type ESPSAKeys struct {
	Src, Dst netip.Addr
	SPI      uint32
	Encr     *ikecrypto.Encr
	Integ    *ikecrypto.Integ
	EncrKey  []byte // with the salt for AEAD ciphers
	IntegKey []byte
}

// WiresharkKeyLog writes keys as records of Wireshark's user tables:
// IKE SAs in the format of the ISAKMP dissector's ikev2_decryption_table,
// ESP SAs in the format of the ESP dissector's esp_sa table. Both kinds of
// record go to one stream; ESP records are the lines that start with
// "IPv4" or "IPv6" in quotes, every other non-comment line is an IKE
// record. Algorithms Wireshark cannot decrypt (ChaCha20-Poly1305) are
// noted in a comment line without keys.
type WiresharkKeyLog struct {
	mu sync.Mutex
	w  io.Writer
	// Err is the first write error, if any; later records are dropped.
	err error
}

// NewWiresharkKeyLog returns a KeyLogger writing to w; each record is one
// Write call.
func NewWiresharkKeyLog(w io.Writer) *WiresharkKeyLog { return &WiresharkKeyLog{w: w} }

// Err returns the first write error.
func (l *WiresharkKeyLog) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *WiresharkKeyLog) write(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	bw := bufio.NewWriterSize(l.w, len(line))
	if _, err := bw.WriteString(line); err != nil {
		l.err = err
		return
	}
	l.err = bw.Flush()
}

// IKESA implements KeyLogger.
func (l *WiresharkKeyLog) IKESA(k IKESAKeys) {
	encr := wiresharkIKEEncr(k.Encr)
	integ := "NONE [RFC4306]"
	if k.Integ != nil {
		integ = wiresharkIKEInteg(k.Integ)
	}
	if encr == "" || integ == "" {
		l.write(fmt.Sprintf("# IKE SA %016x_i %016x_r uses %s, which Wireshark cannot decrypt; keys not logged\n",
			k.SPIi, k.SPIr, suiteName(k.Encr, k.Integ)))
		return
	}
	l.write(fmt.Sprintf("%016x,%016x,%s,%s,%q,%s,%s,%q\n",
		k.SPIi, k.SPIr, uatHex(k.SKei), uatHex(k.SKer), encr, uatHex(k.SKai), uatHex(k.SKar), integ))
}

// ESPSA implements KeyLogger.
func (l *WiresharkKeyLog) ESPSA(k ESPSAKeys) {
	encr := wiresharkESPEncr(k.Encr)
	integ, integKey := "NULL", ""
	if k.Integ != nil {
		integ, integKey = wiresharkESPInteg(k.Integ), fmt.Sprintf("0x%x", k.IntegKey)
	}
	if encr == "" || integ == "" {
		l.write(fmt.Sprintf("# ESP SA %s -> %s SPI 0x%08x uses %s, which Wireshark cannot decrypt; keys not logged\n",
			k.Src, k.Dst, k.SPI, suiteName(k.Encr, k.Integ)))
		return
	}
	family := "IPv6"
	if k.Src.Is4() {
		family = "IPv4"
	}
	l.write(fmt.Sprintf("%q,%q,%q,\"0x%08x\",%q,\"0x%x\",%q,%q\n",
		family, k.Src.String(), k.Dst.String(), k.SPI, encr, k.EncrKey, integ, integKey))
}

// uatHex formats a byte field of a Wireshark table: bare hex, or "" when empty.
func uatHex(b []byte) string {
	if len(b) == 0 {
		return `""`
	}
	return fmt.Sprintf("%x", b)
}

func suiteName(e *ikecrypto.Encr, i *ikecrypto.Integ) string {
	if i == nil {
		return e.Name
	}
	return e.Name + "-" + i.Name
}

// The names below are the values of Wireshark's enumerations, as they
// appear in its table files (packet-isakmp.c, packet-ipsec.c).

func wiresharkIKEEncr(e *ikecrypto.Encr) string {
	switch {
	case e.ID == wire.ENCR_AES_CBC:
		return fmt.Sprintf("AES-CBC-%d [RFC3602]", e.KeyBits)
	case e.ID == wire.ENCR_AES_GCM_16:
		return fmt.Sprintf("AES-GCM-%d with 16 octet ICV [RFC5282]", e.KeyBits)
	}
	return ""
}

func wiresharkIKEInteg(i *ikecrypto.Integ) string {
	switch i.ID {
	case wire.AUTH_HMAC_SHA2_256_128:
		return "HMAC_SHA2_256_128 [RFC4868]"
	case wire.AUTH_HMAC_SHA2_384_192:
		return "HMAC_SHA2_384_192 [RFC4868]"
	case wire.AUTH_HMAC_SHA2_512_256:
		return "HMAC_SHA2_512_256 [RFC4868]"
	}
	return ""
}

func wiresharkESPEncr(e *ikecrypto.Encr) string {
	switch e.ID {
	case wire.ENCR_AES_CBC:
		return "AES-CBC [RFC3602]"
	case wire.ENCR_AES_GCM_16:
		return "AES-GCM with 16 octet ICV [RFC4106]"
	}
	return ""
}

func wiresharkESPInteg(i *ikecrypto.Integ) string {
	switch i.ID {
	case wire.AUTH_HMAC_SHA2_256_128:
		return "HMAC-SHA-256-128 [RFC4868]"
	case wire.AUTH_HMAC_SHA2_384_192:
		return "HMAC-SHA-384-192 [RFC4868]"
	case wire.AUTH_HMAC_SHA2_512_256:
		return "HMAC-SHA-512-256 [RFC4868]"
	}
	return ""
}

// logIKEKeys hands a freshly keyed IKE SA to the key logger, if any.
func (p *peer) logIKEKeys(sa *ikeSA) {
	kl := p.n.cfg.KeyLog
	if kl == nil {
		return
	}
	kl.IKESA(IKESAKeys{
		SPIi: sa.spiI, SPIr: sa.spiR, Encr: sa.suite.Encr, Integ: sa.suite.Integ,
		SKei: sa.keys.SKei, SKer: sa.keys.SKer, SKai: sa.keys.SKai, SKar: sa.keys.SKar,
	})
}

// logESPKeys hands both states of an installed CHILD_SA to the key logger.
func (p *peer) logESPKeys(s suite, in, out ESPSAKeys) {
	kl := p.n.cfg.KeyLog
	if kl == nil {
		return
	}
	for _, k := range []ESPSAKeys{in, out} {
		k.Encr, k.Integ = s.Encr, s.Integ
		if k.Integ == nil {
			k.IntegKey = nil
		}
		kl.ESPSA(k)
	}
}
