package wire

import (
	"encoding/binary"
	"fmt"
)

// KE is the Key Exchange payload (RFC 7296 3.4).
type KE struct {
	Group uint16 // key exchange method (Diffie-Hellman group) number
	Data  []byte
}

func (*KE) Type() PayloadType { return PayloadKE }

func (p *KE) AppendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, p.Group)
	return append(append(b, 0, 0), p.Data...)
}

func (p *KE) parseBody(b []byte) error {
	if len(b) < 4 {
		return fmt.Errorf("body of %d bytes, shorter than 4-byte fixed part (group, reserved)", len(b))
	}
	p.Group = binary.BigEndian.Uint16(b[0:2])
	p.Data = clip(b[4:])
	return nil
}

// ID is an Identification payload, IDi or IDr (RFC 7296 3.5).
type ID struct {
	Kind   PayloadType // PayloadIDi or PayloadIDr
	IDType IDType
	Data   []byte
}

// Type returns Kind.
func (p *ID) Type() PayloadType { return p.Kind }

func (p *ID) AppendBody(b []byte) []byte {
	return append(append(b, byte(p.IDType), 0, 0, 0), p.Data...)
}

// Body returns the payload body, IDType | RESERVED(3) | Data: the bytes
// RFC 7296 2.15 calls IDi' / IDr' and feeds to prf(SK_px, ...).
func (p *ID) Body() []byte { return p.AppendBody(nil) }

func (p *ID) parseBody(b []byte) error {
	if len(b) < 4 {
		return fmt.Errorf("body of %d bytes, shorter than 4-byte fixed part (ID type, reserved)", len(b))
	}
	p.IDType = IDType(b[0])
	p.Data = clip(b[4:])
	return nil
}

// Cert is the Certificate payload (RFC 7296 3.6).
type Cert struct {
	Encoding CertEncoding
	Data     []byte
}

func (*Cert) Type() PayloadType            { return PayloadCERT }
func (p *Cert) AppendBody(b []byte) []byte { return append(append(b, byte(p.Encoding)), p.Data...) }

func (p *Cert) parseBody(b []byte) error {
	if len(b) < 1 {
		return fmt.Errorf("empty body, missing certificate encoding")
	}
	p.Encoding = CertEncoding(b[0])
	p.Data = clip(b[1:])
	return nil
}

// CertReq is the Certificate Request payload (RFC 7296 3.7). For X.509
// certificates, Data is a concatenation of 20-byte SHA-1 hashes of trusted
// CA public keys.
type CertReq struct {
	Encoding CertEncoding
	Data     []byte
}

func (*CertReq) Type() PayloadType            { return PayloadCERTREQ }
func (p *CertReq) AppendBody(b []byte) []byte { return append(append(b, byte(p.Encoding)), p.Data...) }

func (p *CertReq) parseBody(b []byte) error {
	if len(b) < 1 {
		return fmt.Errorf("empty body, missing certificate encoding")
	}
	p.Encoding = CertEncoding(b[0])
	p.Data = clip(b[1:])
	return nil
}

// Auth is the Authentication payload (RFC 7296 3.8).
type Auth struct {
	Method AuthMethod
	Data   []byte
}

func (*Auth) Type() PayloadType { return PayloadAUTH }

func (p *Auth) AppendBody(b []byte) []byte {
	return append(append(b, byte(p.Method), 0, 0, 0), p.Data...)
}

func (p *Auth) parseBody(b []byte) error {
	if len(b) < 4 {
		return fmt.Errorf("body of %d bytes, shorter than 4-byte fixed part (auth method, reserved)", len(b))
	}
	p.Method = AuthMethod(b[0])
	p.Data = clip(b[4:])
	return nil
}

// Nonce is the Nonce payload (RFC 7296 3.9). The codec does not enforce
// the 16..256 byte size rule; that is the exchange's business.
type Nonce struct {
	Data []byte
}

func (*Nonce) Type() PayloadType            { return PayloadNonce }
func (p *Nonce) AppendBody(b []byte) []byte { return append(b, p.Data...) }
func (p *Nonce) parseBody(b []byte) error   { p.Data = clip(b); return nil }

// Notify is the Notify payload (RFC 7296 3.10).
type Notify struct {
	Protocol   ProtocolID
	SPI        []byte
	NotifyType NotifyType
	Data       []byte
}

func (*Notify) Type() PayloadType { return PayloadNotify }

func (p *Notify) AppendBody(b []byte) []byte {
	if len(p.SPI) > maxSPISize {
		panic(fmt.Sprintf("wire: Notify payload: SPI of %d bytes is too long", len(p.SPI)))
	}
	b = append(b, byte(p.Protocol), byte(len(p.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(p.NotifyType))
	return append(append(b, p.SPI...), p.Data...)
}

func (p *Notify) parseBody(b []byte) error {
	if len(b) < 4 {
		return fmt.Errorf("body of %d bytes, shorter than 4-byte fixed part (protocol, SPI size, type)", len(b))
	}
	p.Protocol = ProtocolID(b[0])
	spiSize := int(b[1])
	p.NotifyType = NotifyType(binary.BigEndian.Uint16(b[2:4]))
	if 4+spiSize > len(b) {
		return fmt.Errorf("SPI size %d exceeds the %d bytes after the fixed part", spiSize, len(b)-4)
	}
	p.SPI = clip(b[4 : 4+spiSize])
	p.Data = clip(b[4+spiSize:])
	return nil
}

// Delete is the Delete payload (RFC 7296 3.11). To delete the IKE SA
// itself, Protocol is ProtoIKE, SPISize 0 and SPIs empty; for ESP, SPISize
// is 4.
type Delete struct {
	Protocol ProtocolID
	SPISize  uint8
	SPIs     [][]byte // each SPISize bytes long
}

func (*Delete) Type() PayloadType { return PayloadDelete }

func (p *Delete) AppendBody(b []byte) []byte {
	if len(p.SPIs) > 0xffff {
		panic(fmt.Sprintf("wire: Delete payload: %d SPIs are too many", len(p.SPIs)))
	}
	b = append(b, byte(p.Protocol), p.SPISize)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.SPIs)))
	for i, spi := range p.SPIs {
		if len(spi) != int(p.SPISize) {
			panic(fmt.Sprintf("wire: Delete payload: SPI %d is %d bytes, SPISize is %d", i, len(spi), p.SPISize))
		}
		b = append(b, spi...)
	}
	return b
}

func (p *Delete) parseBody(b []byte) error {
	if len(b) < 4 {
		return fmt.Errorf("body of %d bytes, shorter than 4-byte fixed part (protocol, SPI size, SPI count)", len(b))
	}
	p.Protocol = ProtocolID(b[0])
	p.SPISize = b[1]
	n := int(binary.BigEndian.Uint16(b[2:4]))
	size := int(p.SPISize)
	if size == 0 && n != 0 {
		return fmt.Errorf("SPI size 0 with %d SPIs", n)
	}
	if len(b)-4 != n*size {
		return fmt.Errorf("%d SPIs of %d bytes need %d bytes, body has %d", n, size, n*size, len(b)-4)
	}
	p.SPIs = nil
	for i := range n {
		p.SPIs = append(p.SPIs, b[4+i*size:4+(i+1)*size])
	}
	return nil
}

// VendorID is the Vendor ID payload (RFC 7296 3.12).
type VendorID struct {
	Data []byte
}

func (*VendorID) Type() PayloadType            { return PayloadVendorID }
func (p *VendorID) AppendBody(b []byte) []byte { return append(b, p.Data...) }
func (p *VendorID) parseBody(b []byte) error   { p.Data = clip(b); return nil }
