package wire

import (
	"errors"
	"fmt"
)

// SyntaxError reports a malformed message, header or payload. Receivers of
// a SyntaxError for a request normally answer INVALID_SYNTAX (RFC 7296 2.21).
type SyntaxError struct {
	// Where names the structure being parsed, e.g. "header" or "KE payload".
	Where string
	// Offset is the byte offset of that structure within the buffer given
	// to the parsing function (for ParseMessage, within the whole message).
	Offset int
	// Msg says what was wrong.
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("wire: %s at offset %d: %s", e.Where, e.Offset, e.Msg)
}

// ErrMajorVersion is wrapped by ParseMessage when the header's major
// version is not 2. The header itself can still be read with ParseHeader,
// to answer with INVALID_MAJOR_VERSION (RFC 7296 2.5).
var ErrMajorVersion = errors.New("wire: unsupported IKE major version")

func syntaxErr(where string, off int, format string, args ...any) error {
	return &SyntaxError{Where: where, Offset: off, Msg: fmt.Sprintf(format, args...)}
}
