package control

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"
)

// DefaultSocket is where metrod listens and metroctl connects by default.
const DefaultSocket = "/run/metro/metrod.sock"

// Protocol limits.
const (
	// MaxRequestSize bounds one request line, newline included. A longer
	// request is answered with an error and the connection is closed.
	MaxRequestSize = 64 << 10

	// MaxResponseSize bounds one response line read by a Client, so that a
	// confused or hostile server cannot make metroctl allocate without end.
	MaxResponseSize = 16 << 20
)

// Server timeouts (defaults; see Server).
const (
	defaultIdleTimeout    = 30 * time.Second // waiting for (the rest of) a request
	defaultWriteTimeout   = 10 * time.Second // writing a response
	defaultHandlerTimeout = 60 * time.Second // one Handler call
)

// Request operations.
const (
	opStatus  = "status"
	opCommand = "command"
)

// request is one line sent by a client.
type request struct {
	Op   string            `json:"op"`
	Name string            `json:"name,omitempty"` // opCommand
	Args map[string]string `json:"args,omitempty"` // opCommand
}

// response is one line sent by the server.
type response struct {
	OK     bool    `json:"ok"`
	Error  string  `json:"error,omitempty"`
	Status *Status `json:"status,omitempty"` // opStatus
	Output string  `json:"output,omitempty"` // opCommand
}

// errLineTooLong is returned by readLine when a line exceeds its limit.
var errLineTooLong = errors.New("line too long")

// readLine reads one '\n'-terminated line of at most max bytes (newline
// included) and returns it without the newline. A final line without a
// newline at EOF is returned with a nil error; the next call reports io.EOF.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return nil, fmt.Errorf("%w (limit %d bytes)", errLineTooLong, max)
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case len(line) > 0 && errors.Is(err, io.EOF):
			return line, nil
		default:
			return nil, err
		}
	}
}
