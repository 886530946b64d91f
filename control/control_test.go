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
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeHandler is a Handler whose behaviour each test sets.
type fakeHandler struct {
	status  func(ctx context.Context) (*Status, error)
	command func(ctx context.Context, name string, args map[string]string) (string, error)
	calls   atomic.Int32
}

func (h *fakeHandler) Status(ctx context.Context) (*Status, error) {
	h.calls.Add(1)
	if h.status == nil {
		return nil, errors.New("status not set")
	}
	return h.status(ctx)
}

func (h *fakeHandler) Command(ctx context.Context, name string, args map[string]string) (string, error) {
	h.calls.Add(1)
	if h.command == nil {
		return "", errors.New("command not set")
	}
	return h.command(ctx, name, args)
}

func sampleStatus() *Status {
	t0 := time.Date(2025, 12, 3, 10, 0, 0, 0, time.UTC)
	return &Status{
		Version: "0.1.0",
		PID:     4242,
		Since:   t0,
		Local:   []string{"192.0.2.1", "2001:db8::1"},
		Backend: BackendMemory,
		Peers: []PeerStatus{
			{
				Remote:    "192.0.2.7",
				Local:     "192.0.2.1",
				Auth:      AuthPSK,
				State:     StateEstablished,
				Since:     t0.Add(time.Minute),
				Initiator: true,
				IKE: &IKESAStatus{
					SPIi: "0123456789abcdef", SPIr: "fedcba9876543210",
					Encr: "AES_GCM_16_256", PRF: "PRF_HMAC_SHA2_256", KE: "CURVE25519",
					Established: t0.Add(time.Minute), RekeyAt: t0.Add(4 * time.Hour),
				},
				Children: []ChildStatus{{
					SPIIn: "c1c2c3c4", SPIOut: "d1d2d3d4", Encr: "AES_GCM_16_256", Mode: "transport",
					Reqid: 0x4d450001, BytesIn: 1 << 20, BytesOut: 12345, PacketsIn: 900, PacketsOut: 77,
					Established: t0.Add(time.Minute), RekeyAt: t0.Add(time.Hour),
				}},
			},
			{
				Remote:    "2001:db8::7",
				Local:     "2001:db8::1",
				Auth:      AuthCert,
				State:     StateFailed,
				LastError: "AUTHENTICATION_FAILED from peer",
				Since:     t0.Add(2 * time.Minute),
				PeerID:    "b.example.net", CertSubject: "CN=b.example.net", CertExpiry: t0.AddDate(1, 0, 0),
			},
		},
	}
}

// startServer listens on a socket in a fresh temporary directory and serves
// it until the test ends. opts may adjust the server before Serve.
func startServer(t *testing.T, h Handler, opts ...func(*Server)) (*Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "metrod.sock")
	srv, err := Listen(path, h, nil)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	for _, o := range opts {
		o(srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
	})
	return srv, path
}

func dial(t *testing.T, path string) *Client {
	t.Helper()
	c, err := Dial(path)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStatusRoundTrip(t *testing.T) {
	want := sampleStatus()
	h := &fakeHandler{status: func(context.Context) (*Status, error) { return sampleStatus(), nil }}
	_, path := startServer(t, h)
	c := dial(t, path)
	got, err := c.Status(testCtx(t))
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Status round trip:\n got %+v\nwant %+v", got, want)
	}
	// The same connection serves further requests.
	if _, err := c.Status(testCtx(t)); err != nil {
		t.Fatalf("second Status on the same connection: %v", err)
	}
	if n := h.calls.Load(); n != 2 {
		t.Errorf("handler called %d times, want 2", n)
	}
}

func TestCommandRoundTrip(t *testing.T) {
	var gotName string
	var gotArgs map[string]string
	h := &fakeHandler{command: func(_ context.Context, name string, args map[string]string) (string, error) {
		gotName, gotArgs = name, args
		return "reloaded 3 peers\n", nil
	}}
	_, path := startServer(t, h)
	c := dial(t, path)
	out, err := c.Command(testCtx(t), "reload", map[string]string{"peer": "192.0.2.7", "force": "yes"})
	if err != nil {
		t.Fatalf("Command: %v", err)
	}
	if out != "reloaded 3 peers\n" {
		t.Errorf("output = %q", out)
	}
	if gotName != "reload" || !reflect.DeepEqual(gotArgs, map[string]string{"peer": "192.0.2.7", "force": "yes"}) {
		t.Errorf("handler got name %q args %v", gotName, gotArgs)
	}
}

func TestErrorPropagation(t *testing.T) {
	h := &fakeHandler{
		status: func(context.Context) (*Status, error) { return nil, errors.New("kernel backend unavailable") },
		command: func(_ context.Context, name string, _ map[string]string) (string, error) {
			return "", fmt.Errorf("unknown command %q", name)
		},
	}
	_, path := startServer(t, h)
	c := dial(t, path)

	_, err := c.Status(testCtx(t))
	var re *RemoteError
	if !errors.As(err, &re) || re.Message != "kernel backend unavailable" {
		t.Fatalf("Status error = %v (%T), want RemoteError %q", err, err, "kernel backend unavailable")
	}
	_, err = c.Command(testCtx(t), "frobnicate", nil)
	if !errors.As(err, &re) || re.Message != `unknown command "frobnicate"` {
		t.Fatalf("Command error = %v, want RemoteError about frobnicate", err)
	}
	// A remote error does not break the connection.
	h.status = func(context.Context) (*Status, error) { return &Status{PID: 7}, nil }
	st, err := c.Status(testCtx(t))
	if err != nil || st.PID != 7 {
		t.Fatalf("Status after remote error = %+v, %v", st, err)
	}
}

func TestHandlerPanicAndNilStatus(t *testing.T) {
	h := &fakeHandler{
		status:  func(context.Context) (*Status, error) { return nil, nil },
		command: func(context.Context, string, map[string]string) (string, error) { panic("boom") },
	}
	_, path := startServer(t, h)
	c := dial(t, path)
	var re *RemoteError
	if _, err := c.Command(testCtx(t), "down", nil); !errors.As(err, &re) || re.Message != "internal error" {
		t.Errorf("panicking handler: err = %v, want RemoteError internal error", err)
	}
	if _, err := c.Status(testCtx(t)); !errors.As(err, &re) || !strings.Contains(re.Message, "no status") {
		t.Errorf("nil status: err = %v, want RemoteError about no status", err)
	}
}

func TestConcurrentClients(t *testing.T) {
	const n = 8
	var arrived atomic.Int32
	all := make(chan struct{})
	h := &fakeHandler{status: func(ctx context.Context) (*Status, error) {
		// Every handler waits until all n requests are in flight at once,
		// which only happens if the server handles clients concurrently.
		if arrived.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
			return &Status{PID: int(arrived.Load())}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
	_, path := startServer(t, h, func(s *Server) { s.handlerTimeout = 3 * time.Second })
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(path)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			st, err := c.Status(testCtx(t))
			if err == nil && st.PID != n {
				err = fmt.Errorf("PID %d, want %d", st.PID, n)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("client: %v", err)
		}
	}
}

// rawExchange writes data to a fresh connection and returns the first
// response line and whether the server then closed the connection.
func rawConn(t *testing.T, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	return conn, bufio.NewReader(conn)
}

func readResponse(t *testing.T, r *bufio.Reader) response {
	t.Helper()
	line, err := r.ReadBytes('\n')
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		t.Fatalf("response %q: %v", line, err)
	}
	return resp
}

func TestOversizeRequestRejected(t *testing.T) {
	h := &fakeHandler{command: func(context.Context, string, map[string]string) (string, error) { return "ran", nil }}
	_, path := startServer(t, h)
	conn, r := rawConn(t, path)
	big := `{"op":"command","name":"x","args":{"a":"` + strings.Repeat("A", MaxRequestSize) + `"}}` + "\n"
	go conn.Write([]byte(big)) // may fail once the server hangs up
	resp := readResponse(t, r)
	if resp.OK || !strings.Contains(resp.Error, "too large") {
		t.Errorf("response = %+v, want a too-large error", resp)
	}
	if _, err := r.ReadByte(); err == nil {
		t.Errorf("connection still open after oversize request")
	}
	if n := h.calls.Load(); n != 0 {
		t.Errorf("handler called %d times for an oversize request", n)
	}

	// The client refuses to send one.
	c := dial(t, path)
	_, err := c.Command(testCtx(t), "x", map[string]string{"a": strings.Repeat("A", MaxRequestSize)})
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("client oversize Command: err = %v", err)
	}
	// A request just under the limit is served.
	arg := strings.Repeat("A", MaxRequestSize-100)
	if out, err := c.Command(testCtx(t), "x", map[string]string{"a": arg}); err != nil || out != "ran" {
		t.Errorf("Command just under the limit = %q, %v", out, err)
	}
}

func TestMalformedRequests(t *testing.T) {
	h := &fakeHandler{status: func(context.Context) (*Status, error) { return &Status{PID: 1}, nil }}
	_, path := startServer(t, h)
	conn, r := rawConn(t, path)
	for _, tc := range []struct{ req, wantErr string }{
		{`{"op":`, "malformed request"},
		{`[1,2]`, "malformed request"},
		{`{}`, `missing "op"`},
		{`{"op":"reboot"}`, `unknown op "reboot"`},
		{`{"op":"command"}`, `without "name"`},
	} {
		fmt.Fprintf(conn, "%s\n", tc.req)
		resp := readResponse(t, r)
		if resp.OK || !strings.Contains(resp.Error, tc.wantErr) {
			t.Errorf("request %s: response %+v, want error containing %q", tc.req, resp, tc.wantErr)
		}
	}
	// Blank lines are skipped and the connection still works.
	fmt.Fprintf(conn, "\n  \n{\"op\":\"status\"}\n")
	if resp := readResponse(t, r); !resp.OK || resp.Status == nil || resp.Status.PID != 1 {
		t.Errorf("status after malformed requests: %+v", resp)
	}
}

func TestIdleConnectionClosed(t *testing.T) {
	_, path := startServer(t, &fakeHandler{}, func(s *Server) { s.idleTimeout = 100 * time.Millisecond })
	conn, r := rawConn(t, path)
	conn.Write([]byte(`{"op":`)) // half a request, then silence
	start := time.Now()
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("read from idle connection: %v, want EOF", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("idle connection closed after %v", d)
	}
}

func TestSocketFileMode(t *testing.T) {
	_, path := startServer(t, &fakeHandler{})
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		t.Errorf("%s is %v, want a socket", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("socket mode %o, want 0600", perm)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if !di.IsDir() || di.Mode().Perm()&0o700 != 0o700 {
		t.Errorf("socket directory mode %v", di.Mode())
	}
	// No temporary file is left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("socket directory holds %d entries, want 1", len(ents))
	}
}

// staleSocket leaves a socket file at path that nobody listens on.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
}

func TestStaleSocketRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrod.sock")
	staleSocket(t, path)
	if _, err := Dial(path); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Dial to stale socket: %v, want ErrNotRunning", err)
	}
	h := &fakeHandler{status: func(context.Context) (*Status, error) { return &Status{PID: 99}, nil }}
	srv, err := Listen(path, h, nil)
	if err != nil {
		t.Fatalf("Listen over stale socket: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	c := dial(t, path)
	if st, err := c.Status(testCtx(t)); err != nil || st.PID != 99 {
		t.Errorf("Status through replaced socket: %+v, %v", st, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket file still present after shutdown: %v", err)
	}
}

func TestLiveSocketRefused(t *testing.T) {
	h := &fakeHandler{status: func(context.Context) (*Status, error) { return &Status{PID: 1}, nil }}
	_, path := startServer(t, h)
	srv2, err := Listen(path, &fakeHandler{}, nil)
	if err == nil {
		srv2.Close()
		t.Fatal("second Listen on a live socket succeeded")
	}
	if !errors.Is(err, ErrAlreadyRunning) || !strings.Contains(err.Error(), "another metrod is running") {
		t.Errorf("second Listen: %v, want ErrAlreadyRunning", err)
	}
	// The first daemon is untouched.
	if st, err := dial(t, path).Status(testCtx(t)); err != nil || st.PID != 1 {
		t.Errorf("first server after refused Listen: %+v, %v", st, err)
	}
}

func TestNonSocketLeftAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrod.sock")
	if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if srv, err := Listen(path, &fakeHandler{}, nil); err == nil {
		srv.Close()
		t.Fatal("Listen replaced a regular file")
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "precious" {
		t.Errorf("regular file changed: %q, %v", b, err)
	}
}

func TestDialNotRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "metrod.sock")
	_, err := Dial(path)
	if !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Dial missing socket: %v, want ErrNotRunning", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Dial error %v does not keep its cause", err)
	}
	if want := "metrod is not running (no control socket at " + path + ")"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestClientContextCancel(t *testing.T) {
	release := make(chan struct{})
	h := &fakeHandler{status: func(ctx context.Context) (*Status, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return &Status{}, nil
	}}
	defer close(release)
	_, path := startServer(t, h)
	c := dial(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Status(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Status with expiring context: %v, want DeadlineExceeded", err)
	}
	// The stream is out of step now; the client says so instead of
	// returning the late response to the next request.
	if _, err := c.Status(testCtx(t)); err == nil {
		t.Errorf("Status on a broken client succeeded")
	}
}

func TestCloseCancelsHandlersAndRemovesSocket(t *testing.T) {
	started := make(chan struct{})
	h := &fakeHandler{status: func(ctx context.Context) (*Status, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	path := filepath.Join(t.TempDir(), "metrod.sock")
	srv, err := Listen(path, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background()) }()
	c := dial(t, path)
	callErr := make(chan error, 1)
	go func() {
		_, err := c.Status(testCtx(t))
		callErr <- err
	}()
	<-started
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	if err := <-callErr; err == nil {
		t.Errorf("client call survived server Close")
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket file after Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := Dial(path); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Dial after Close: %v, want ErrNotRunning", err)
	}
}

func TestCloseKeepsForeignSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrod.sock")
	srv, err := Listen(path, &fakeHandler{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Somebody replaced our socket file (for instance a new daemon after
	// ours stopped answering); Close must not delete theirs.
	os.Remove(path)
	staleSocket(t, path)
	srv.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("Close removed a socket it did not create: %v", err)
	}
}

func TestReadLine(t *testing.T) {
	for _, tc := range []struct {
		in    string
		max   int
		lines []string
		err   error
	}{
		{"a\nbb\n", 10, []string{"a", "bb"}, io.EOF},
		{"abc", 10, []string{"abc"}, io.EOF},
		{"abcd\n", 5, []string{"abcd"}, io.EOF},
		{"abcde\n", 5, nil, errLineTooLong},
		{strings.Repeat("x", 5000) + "\n", 6000, []string{strings.Repeat("x", 5000)}, io.EOF},
		{strings.Repeat("x", 5000) + "\n", 4500, nil, errLineTooLong},
	} {
		r := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
		var got []string
		var err error
		for {
			var line []byte
			line, err = readLine(r, tc.max)
			if err != nil {
				break
			}
			got = append(got, string(line))
		}
		if !reflect.DeepEqual(got, tc.lines) || !errors.Is(err, tc.err) {
			t.Errorf("readLine(%.20q, %d) = %q, %v; want %q, %v", tc.in, tc.max, got, err, tc.lines, tc.err)
		}
	}
}
