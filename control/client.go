package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"sync"
	"syscall"
	"time"
)

// dialTimeout bounds connecting to the socket.
const dialTimeout = 5 * time.Second

// Client is a connection to metrod's control socket. Its methods may be
// called from several goroutines; requests are sent one at a time.
type Client struct {
	path string

	mu     sync.Mutex
	conn   net.Conn
	r      *bufio.Reader
	broken error // set once the stream can no longer be trusted
}

// Dial connects to the control socket at path. If the socket does not exist
// or nobody accepts connections on it, the error matches ErrNotRunning.
func Dial(path string) (*Client, error) {
	conn, err := net.DialTimeout("unix", path, dialTimeout)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, &notRunningError{path: path, err: err}
		}
		return nil, fmt.Errorf("control: connecting to %s: %w", path, err)
	}
	return &Client{path: path, conn: conn, r: bufio.NewReaderSize(conn, 4096)}, nil
}

// Close closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken == nil {
		c.broken = net.ErrClosed
	}
	return c.conn.Close()
}

// Status asks metrod for its status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	resp, err := c.roundTrip(ctx, &request{Op: opStatus})
	if err != nil {
		return nil, err
	}
	if resp.Status == nil {
		return nil, errors.New("control: malformed response: ok without status")
	}
	return resp.Status, nil
}

// Command asks metrod to run the named command and returns its output. An
// error reported by metrod is a *RemoteError.
func (c *Client) Command(ctx context.Context, name string, args map[string]string) (string, error) {
	if name == "" {
		return "", errors.New("control: Command: empty name")
	}
	resp, err := c.roundTrip(ctx, &request{Op: opCommand, Name: name, Args: args})
	if err != nil {
		return "", err
	}
	return resp.Output, nil
}

// aLongTimeAgo is a deadline in the past, to abort blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip sends one request and reads its response. A response with
// "ok":false becomes a *RemoteError. Any other failure leaves the stream in
// an unknown state, so the Client refuses further requests.
func (c *Client) roundTrip(ctx context.Context, req *request) (*response, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("control: encoding request: %w", err)
	}
	b = append(b, '\n')
	if len(b) > MaxRequestSize {
		return nil, fmt.Errorf("control: request too large (%d bytes, limit %d)", len(b), MaxRequestSize)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return nil, fmt.Errorf("control: connection unusable: %w", c.broken)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dl, _ := ctx.Deadline() // zero: no deadline
	c.conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(aLongTimeAgo) })
	defer stop()

	fail := func(err error) (*response, error) {
		c.broken = err
		c.conn.Close()
		// The connection deadline may fire a moment before the context
		// notices its own; report the context's error either way.
		var nerr net.Error
		if ctx.Err() == nil && errors.As(err, &nerr) && nerr.Timeout() && !dl.IsZero() && !time.Now().Before(dl) {
			return nil, fmt.Errorf("control: waiting for metrod: %w", context.DeadlineExceeded)
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("control: waiting for metrod: %w", ctxErr)
		}
		return nil, err
	}
	if _, err := c.conn.Write(b); err != nil {
		return fail(fmt.Errorf("control: sending request: %w", err))
	}
	line, err := readLine(c.r, MaxResponseSize)
	if errors.Is(err, io.EOF) {
		return fail(errors.New("control: metrod closed the connection"))
	}
	if err != nil {
		return fail(fmt.Errorf("control: reading response: %w", err))
	}
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		return fail(fmt.Errorf("control: malformed response: %w", err))
	}
	if !resp.OK {
		msg := resp.Error
		if msg == "" {
			msg = "metrod reported an unspecified error"
		}
		return nil, &RemoteError{Message: msg}
	}
	return &resp, nil
}
