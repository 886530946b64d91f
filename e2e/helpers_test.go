package e2e

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

// TestHostHelpers checks the toolkit itself against the real kernel:
// isolation of the namespaces, background processes and their logs, socket
// waits, ping failures and cleartext TCP accounting in the capture.
func TestHostHelpers(t *testing.T) {
	RequireVM(t)
	a, b := NewPair(t)

	out := a.Run(t, "ip", "-br", "addr", "show", "dev", Link)
	if !strings.Contains(out, "10.0.0.1/24") || !strings.Contains(out, "fd00::1/64") || strings.Contains(out, "10.0.0.2") {
		t.Errorf("%s addresses: %q", a.Name, out)
	}

	c := a.Capture(t, b)
	srv := b.Start(t, "busybox", "nc", "-l", "-p", "7000")
	b.WaitListen(t, "tcp", 7000)
	if a.Listening(t, "tcp", 7000) {
		t.Errorf("listener in %s visible from %s", b.Name, a.Name)
	}
	a.Run(t, "sh", "-c", "echo hello-metro | busybox nc -w 5 10.0.0.2 7000")
	if err := srv.Wait(10 * time.Second); err != nil {
		t.Fatalf("server: %v\n%s", err, srv.Log())
	}
	if !strings.Contains(srv.Log(), "hello-metro") {
		t.Errorf("server log %q lacks the client's message", srv.Log())
	}
	st, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("capture: %v", st)
	if st.TCP < 3 || st.ESP != 0 || st.ICMP != 0 {
		t.Errorf("capture %v, want >= 3 cleartext TCP segments and nothing else", st)
	}
	f, err := os.Open(c.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", c.Path, err)
	}
	frames := 0
	for {
		if _, _, err := r.ReadPacketData(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("%s: frame %d: %v", c.Path, frames, err)
		}
		frames++
	}
	if frames < st.TCP {
		t.Errorf("pcap holds %d frames, fewer than the %d TCP segments counted", frames, st.TCP)
	}

	if out, err := a.Ping(t, netip.MustParseAddr("10.0.0.99"), 1); err == nil {
		t.Errorf("ping to an absent address succeeded:\n%s", out)
	}

	p := a.Start(t, "sleep", "600")
	start := time.Now()
	if err := p.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if !p.Exited() || time.Since(start) > 5*time.Second {
		t.Errorf("Stop took %v, exited=%v", time.Since(start), p.Exited())
	}
}

func TestProcName(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"/usr/local/bin/metrod", []string{"--debug"}, "metrod"},
		{"env", []string{"METRO_START=on-demand", "A=b", "/x/bin/metrod", "--debug"}, "metrod"},
		{"/usr/bin/env", []string{"-i", "X=1", "charon"}, "charon"},
		{"env", nil, "env"},
	} {
		if got := procName(c.name, c.args); got != c.want {
			t.Errorf("procName(%q, %q) = %q, want %q", c.name, c.args, got, c.want)
		}
	}
}

// sendFile sends the file payload (on a) to b over TCP port 5001 with
// busybox nc, and returns the path on b of what was received. idle is
// nc's idle timeout; the receiver gets twice that to finish. Failures are
// test errors (the caller then compares what arrived).
func sendFile(t *testing.T, a, b *Host, payload string, idle time.Duration) (received string) {
	t.Helper()
	received = b.Dir + "/received"
	// The receiver's stdin never ends (a FIFO opened read-write), so it
	// does not half-close the connection before the data is in.
	fifo := b.Dir + "/stdin"
	b.Run(t, "mkfifo", fifo)
	srv := b.Start(t, "sh", "-c", "exec 3<>"+fifo+"; busybox nc -l -p 5001 <&3 > "+received)
	b.WaitListen(t, "tcp", 5001)
	cmd := a.Command(t.Context(), "sh", "-c", fmt.Sprintf("busybox nc -w %d %s 5001 < %s", int(idle.Seconds()), b.V4, payload))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("transfer of %s: %v: %s", payload, err, out)
	}
	if err := srv.Wait(2 * idle); err != nil {
		t.Errorf("receiver: %v", err)
	}
	return received
}
