package ikecrypto

import (
	"bytes"
	"testing"

	"metro/ike/wire"
)

// TestWireSealOpen runs every cipher through the codec: wire.Seal builds an
// encrypted message, the receiver parses it and wire opens it with its own
// cipher instance, and a flipped header byte (part of the aad) is caught.
func TestWireSealOpen(t *testing.T) {
	for _, c := range cipherCases() {
		sender, receiver := newTestCipher(t, c), newTestCipher(t, c)
		h := wire.Header{SPIi: 0x0102030405060708, SPIr: 0x1112131415161718, Version: 0x20,
			Exchange: wire.IKE_AUTH, Flags: wire.FlagInitiator, MessageID: 1}
		nonce := bytes.Repeat([]byte{0x5a}, 32)
		msg := wire.Seal(h, []wire.Payload{&wire.Nonce{Data: nonce}}, sender)

		m, err := wire.ParseMessage(msg)
		if err != nil {
			t.Fatalf("%s: parse: %v", c.name, err)
		}
		inner, err := m.Open(receiver)
		if err != nil {
			t.Fatalf("%s: open: %v", c.name, err)
		}
		if len(inner) != 1 {
			t.Fatalf("%s: %d inner payloads", c.name, len(inner))
		}
		if n, ok := inner[0].(*wire.Nonce); !ok || !bytes.Equal(n.Data, nonce) {
			t.Errorf("%s: inner payload %#v", c.name, inner[0])
		}

		tampered := bytes.Clone(msg)
		tampered[19] ^= 0x01 // Message ID: authenticated, not encrypted
		if m, err := wire.ParseMessage(tampered); err == nil {
			if _, err := m.Open(receiver); err == nil {
				t.Errorf("%s: tampered header accepted", c.name)
			}
		}
	}
}
