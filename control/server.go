package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"
	"time"
)

// ErrAlreadyRunning is matched (errors.Is) by the error Listen returns when a
// live metrod already answers on the control socket.
var ErrAlreadyRunning = errors.New("another metrod is running")

// Handler answers control requests on behalf of the daemon. Its methods are
// called concurrently, one goroutine per client connection. The context is
// cancelled when the server shuts down or the call has run for too long.
// An error is reported to the client verbatim.
type Handler interface {
	Status(ctx context.Context) (*Status, error)
	// Command runs a named command ("reload", "down", ...) and returns its
	// human-readable output.
	Command(ctx context.Context, name string, args map[string]string) (string, error)
}

// Server serves the control socket. Create it with Listen, run it with
// Serve, stop it by cancelling Serve's context or with Close.
type Server struct {
	path string
	h    Handler
	log  *slog.Logger
	ln   *net.UnixListener
	fi   fs.FileInfo // the socket file we created, to remove only ours

	// Timeouts, set by Listen; tests shorten them.
	idleTimeout    time.Duration
	writeTimeout   time.Duration
	handlerTimeout time.Duration

	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	serving bool
	closed  bool
	cancel  context.CancelFunc // cancels handler contexts; set by Serve
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup // connection goroutines
}

// Listen creates the control socket at path and returns a Server ready to
// Serve. It creates the parent directory (mode 0755) if missing. An existing
// socket file is replaced only if nothing answers on it; if a live metrod
// answers, Listen fails with ErrAlreadyRunning. Anything at path that is not
// a socket is left alone and reported as an error. The socket has mode 0600.
// A nil log discards log records.
func Listen(path string, h Handler, log *slog.Logger) (*Server, error) {
	if h == nil {
		return nil, errors.New("control: Listen: nil Handler")
	}
	if path == "" {
		return nil, errors.New("control: Listen: empty socket path")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("control: creating socket directory: %w", err)
	}
	if err := removeStale(path, log); err != nil {
		return nil, err
	}
	ln, fi, err := bindPrivate(path)
	if err != nil {
		return nil, err
	}
	return &Server{
		path:           path,
		h:              h,
		log:            log,
		ln:             ln,
		fi:             fi,
		idleTimeout:    defaultIdleTimeout,
		writeTimeout:   defaultWriteTimeout,
		handlerTimeout: defaultHandlerTimeout,
		conns:          make(map[net.Conn]struct{}),
	}, nil
}

// removeStale removes a socket left at path by a daemon that is gone. It
// refuses to touch anything that is not a socket, and a socket on which
// somebody still accepts connections.
func removeStale(path string, log *slog.Logger) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control: %s exists and is not a socket (%s); refusing to replace it", path, fi.Mode().Type())
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("control: %w (control socket %s answers)", ErrAlreadyRunning, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("control: probing existing socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("control: removing stale socket: %w", err)
	}
	log.Info("control: removed stale socket", "path", path)
	return nil
}

// bindPrivate binds a listening socket at path with mode 0600. The mode is
// set on the socket before bind (Linux creates the file with the socket's
// mode, less the umask), so the file is never reachable with looser
// permissions; it is set again on the file afterwards for systems that
// ignore the first.
func bindPrivate(path string) (*net.UnixListener, fs.FileInfo, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) { err = syscall.Fchmod(int(fd), 0o600) }); cerr != nil {
			return cerr
		}
		if err != nil {
			return os.NewSyscallError("fchmod", err)
		}
		return nil
	}}
	l, err := lc.Listen(context.Background(), "unix", path)
	if err != nil {
		return nil, nil, fmt.Errorf("control: listen: %w", err)
	}
	ln := l.(*net.UnixListener)
	ln.SetUnlinkOnClose(false) // Close removes the file only if it is still ours
	fail := func(err error) (*net.UnixListener, fs.FileInfo, error) {
		ln.Close()
		os.Remove(path)
		return nil, nil, fmt.Errorf("control: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fail(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return ln, fi, nil
}

// Path returns the socket path.
func (s *Server) Path() string { return s.path }

// Serve accepts connections until ctx is cancelled or Close is called, then
// closes the server (as Close does), waits for the connections in flight to
// finish, and returns nil. It returns an error if the listener fails or if
// Serve is called twice.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.serving || s.closed {
		s.mu.Unlock()
		return errors.New("control: Serve called on a server that is serving or closed")
	}
	s.serving = true
	s.cancel = cancel
	s.mu.Unlock()

	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	s.log.Info("control: listening", "path", s.path)

	var backoff time.Duration
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if s.isClosed() {
				s.Close() // wait for the closing call to finish
				s.wg.Wait()
				return nil
			}
			var errno syscall.Errno
			if errors.As(err, &errno) && (errno == syscall.EMFILE || errno == syscall.ENFILE ||
				errno == syscall.ENOBUFS || errno == syscall.ENOMEM || errno == syscall.ECONNABORTED) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("control: accept failed; retrying", "err", err, "backoff", backoff)
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
				}
				continue
			}
			s.Close()
			s.wg.Wait()
			return fmt.Errorf("control: accept: %w", err)
		}
		backoff = 0
		if !s.track(c) {
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.serveConn(ctx, c)
		}()
	}
}

// Close stops the server: it closes the listener and every open connection,
// cancels running handlers and removes the socket file (if it is still the
// one this server created). It does not wait for handlers to return; Serve
// does. Close is idempotent; every call returns once the server is closed.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Server) close() error {
	s.mu.Lock()
	s.closed = true
	if s.cancel != nil {
		s.cancel()
	}
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()

	err := s.ln.Close()
	for c := range conns {
		c.Close()
	}
	if fi, lerr := os.Lstat(s.path); lerr == nil && os.SameFile(fi, s.fi) {
		if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("control: removing socket: %w", rerr))
		}
	}
	return err
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c) // no-op on a nil map after Close
}

// serveConn answers the requests of one connection, one line at a time,
// until the client hangs up, stays idle too long, or misbehaves.
func (s *Server) serveConn(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(s.idleTimeout))
		line, err := readLine(r, MaxRequestSize)
		if err != nil {
			var nerr net.Error
			switch {
			case errors.Is(err, errLineTooLong):
				s.log.Warn("control: request too large; closing connection", "limit", MaxRequestSize)
				s.reply(c, errorResponse(fmt.Sprintf("request too large (limit %d bytes)", MaxRequestSize)))
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			case errors.As(err, &nerr) && nerr.Timeout():
				s.log.Debug("control: closing idle connection", "timeout", s.idleTimeout)
			default:
				s.log.Debug("control: read failed", "err", err)
			}
			return
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := s.reply(c, s.handle(ctx, line)); err != nil {
			s.log.Debug("control: write failed", "err", err)
			return
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// reply writes one response line.
func (s *Server) reply(c net.Conn, resp *response) error {
	b, err := json.Marshal(resp)
	if err != nil {
		s.log.Error("control: encoding response", "err", err)
		b, _ = json.Marshal(errorResponse("internal error: cannot encode response"))
	}
	c.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	_, err = c.Write(append(b, '\n'))
	return err
}

func errorResponse(msg string) *response {
	if msg == "" {
		msg = "unspecified error"
	}
	return &response{OK: false, Error: msg}
}

// handle decodes one request line and runs it against the Handler.
func (s *Server) handle(ctx context.Context, line []byte) *response {
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		return errorResponse(fmt.Sprintf("malformed request: %v", err))
	}
	ctx, cancel := context.WithTimeout(ctx, s.handlerTimeout)
	defer cancel()
	switch req.Op {
	case opStatus:
		s.log.Debug("control: request", "op", req.Op)
		var st *Status
		err := s.call(req.Op, func() (err error) {
			st, err = s.h.Status(ctx)
			return err
		})
		if err != nil {
			return errorResponse(err.Error())
		}
		if st == nil {
			return errorResponse("internal error: no status")
		}
		return &response{OK: true, Status: st}
	case opCommand:
		if req.Name == "" {
			return errorResponse(`malformed request: command without "name"`)
		}
		s.log.Debug("control: request", "op", req.Op, "name", req.Name, "args", argNames(req.Args))
		var out string
		err := s.call(req.Op+" "+req.Name, func() (err error) {
			out, err = s.h.Command(ctx, req.Name, req.Args)
			return err
		})
		if err != nil {
			return errorResponse(err.Error())
		}
		return &response{OK: true, Output: out}
	case "":
		return errorResponse(`malformed request: missing "op"`)
	default:
		return errorResponse(fmt.Sprintf("unknown op %q", req.Op))
	}
}

// call runs f, turning a panic in the Handler into an error so that one bad
// request cannot take the daemon down.
func (s *Server) call(what string, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("control: handler panicked", "request", what, "panic", p, "stack", string(debug.Stack()))
			err = errors.New("internal error")
		}
	}()
	return f()
}

// argNames returns the sorted names of args, for logging: values are never
// logged, in case a future command carries a secret.
func argNames(args map[string]string) []string {
	return slices.Sorted(maps.Keys(args))
}
