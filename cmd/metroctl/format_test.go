package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"metro/control"
)

func render(st *control.Status, now time.Time, colour bool) string {
	var b bytes.Buffer
	p := &printer{w: &b, now: now, loc: time.UTC, colour: colour}
	p.status(st)
	return b.String()
}

func TestFormatStatus(t *testing.T) {
	now := t0.Add(2 * time.Hour)
	out := render(sampleStatus(), now, false)
	for _, want := range []string{
		"metrod 0.1.0, pid 4242, up 2h0m (since 2025-12-03 10:00:00 UTC), backend netlink\n",
		"local addresses: 192.0.2.1, 2001:db8::1\n",
		"peers: 2 (1 established, 1 failed)\n",
		"\npeer 192.0.2.7\n",
		"  state       established for 1h59m, initiator\n",
		"  ike sa      spi i 0123456789abcdef  r fedcba9876543210\n",
		"              encr AES_GCM_16_256, prf PRF_HMAC_SHA2_256, ke CURVE25519\n",
		"              established 2025-12-03 10:01:00 UTC (1h59m ago), rekey in 3h0m\n",
		"  child sa    spi in c1c2c3c4  out d1d2d3d4, transport, reqid 0x4d450001\n",
		"              encr AES_GCM_16_256\n",
		"              in  1048576 bytes (1.0 MiB)   900 packets\n",
		"              out   12345 bytes (12.1 KiB)   77 packets\n",
		"              established 2025-12-03 10:01:00 UTC (1h59m ago), rekey in 1h0m\n",
		"\npeer 2001:db8::7\n",
		"  auth        cert, peer id b.example.net\n",
		"  certificate CN=b.example.net, expires 2026-01-02 10:00:00 UTC (in 29d22h)\n",
		"  state       failed for 30m0s\n",
		"  last error  AUTHENTICATION_FAILED from peer\n",
		"  ike sa      none\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Every line of a peer block has its value in the same column.
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "  ") && len(line) > labelWidth+2 && line[labelWidth+1] != ' ' {
			t.Errorf("misaligned line %q", line)
		}
	}
}

func TestFormatEdgeCases(t *testing.T) {
	now := t0
	st := &control.Status{PID: 1, Peers: nil}
	if out := render(st, now, false); !strings.Contains(out, "no peers configured") || !strings.Contains(out, "local addresses: none") {
		t.Errorf("empty status:\n%s", out)
	}
	st = &control.Status{PID: 1, Peers: []control.PeerStatus{{
		Remote: "192.0.2.9", State: control.StateEstablished,
		IKE: &control.IKESAStatus{SPIi: "1111111111111111", SPIr: "2222222222222222", RekeyAt: now.Add(-time.Minute)},
	}}}
	out := render(st, now, false)
	for _, want := range []string{"rekey due", "child sa    none", "responder", "local       -"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestFormatColour(t *testing.T) {
	out := render(sampleStatus(), t0, true)
	if !strings.Contains(out, sgrGreen+"established"+sgrReset) || !strings.Contains(out, sgrRed+"failed"+sgrReset) {
		t.Errorf("colour output lacks coloured states:\n%q", out)
	}
	if plain := render(sampleStatus(), t0, false); strings.Contains(plain, "\x1b") {
		t.Errorf("plain output has escapes: %q", plain)
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                          "0s",
		0:                                     "0s",
		59*time.Second + 900*time.Millisecond: "59s",
		61 * time.Second:                      "1m1s",
		2*time.Hour + 7*time.Minute:           "2h7m",
		76 * time.Hour:                        "3d4h",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestApproxBytes(t *testing.T) {
	for n, want := range map[uint64]string{
		0:             "",
		1023:          "",
		1024:          "(1.0 KiB)",
		1536:          "(1.5 KiB)",
		1 << 30:       "(1.0 GiB)",
		1<<63 + 1<<62: "(12.0 EiB)",
	} {
		if got := approxBytes(n); got != want {
			t.Errorf("approxBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTrafficSmallCounts(t *testing.T) {
	var b bytes.Buffer
	p := &printer{w: &b, now: t0, loc: time.UTC}
	p.traffic(&control.ChildStatus{BytesIn: 5, BytesOut: 300, PacketsIn: 1, PacketsOut: 3})
	want := "" +
		"              in    5 bytes  1 packets\n" +
		"              out 300 bytes  3 packets\n"
	if b.String() != want {
		t.Errorf("traffic:\n%s\nwant:\n%s", b.String(), want)
	}
}

// idleStatus is an on-demand host: one peer never negotiated, one whose
// SA went when it stopped answering.
func idleStatus() *control.Status {
	return &control.Status{PID: 9, Peers: []control.PeerStatus{
		{Remote: "192.0.2.7", Local: "192.0.2.1", Auth: control.AuthPSK, State: control.StateIdle, Since: t0},
		{Remote: "192.0.2.8", Local: "192.0.2.1", Auth: control.AuthPSK, State: control.StateIdle, Since: t0.Add(time.Minute),
			LastError: "peer not responding to liveness checks"},
	}}
}

func TestFormatIdle(t *testing.T) {
	out := render(idleStatus(), t0.Add(5*time.Minute), false)
	blocks := strings.Split(out, "\npeer ")
	if len(blocks) != 3 {
		t.Fatalf("want a header and two peer blocks:\n%s", out)
	}
	if !strings.Contains(blocks[0], "peers: 2 (2 idle)\n") {
		t.Errorf("header lacks the idle count:\n%s", blocks[0])
	}
	for i, want := range []string{
		"  state       idle for 5m0s (on demand: no SA until traffic to the peer, which is blocked meanwhile)\n",
		"  state       idle for 4m0s (on demand: no SA until traffic to the peer, which is blocked meanwhile)\n" +
			"  last error  peer not responding to liveness checks\n" +
			"  ike sa      none\n",
	} {
		if !strings.Contains(blocks[i+1], want) {
			t.Errorf("peer block %d lacks %q:\n%s", i+1, want, blocks[i+1])
		}
	}
	if strings.Contains(blocks[1], "last error") || strings.Contains(out, "child sa") || strings.Contains(out, "connecting") {
		t.Errorf("idle peers rendered with an error, a child SA line or as connecting:\n%s", out)
	}
	if colour := render(idleStatus(), t0, true); strings.Contains(colour, sgrRed+"idle") || strings.Contains(colour, sgrYellow+"idle") {
		t.Errorf("idle is a normal state on demand, not a warning:\n%q", colour)
	}
}
