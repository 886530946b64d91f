package auth

import (
	"fmt"
	"log/slog"
)

// redacted is what every textual form of a Secret prints.
const redacted = "[redacted]"

// Secret holds key material (a pre-shared key). Every way of turning it into
// text — fmt verbs (%v, %+v, %#v, %s, %q, %x, ...), slog and JSON — yields
// "[redacted]", so a Secret that ends up in a log line or an error message
// never discloses the key. Code that needs the bytes converts explicitly:
// []byte(s).
type Secret []byte

// String implements fmt.Stringer.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that no verb, including %x and %q,
// formats the underlying bytes.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (used by slog's text handler
// and by encoders other than JSON).
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Wipe overwrites the key bytes with zeros.
func (s Secret) Wipe() { clear(s) }
