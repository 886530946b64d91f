package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"metro/control"
)

// printer renders a control.Status for people.
type printer struct {
	w      io.Writer
	now    time.Time
	loc    *time.Location
	colour bool
}

// ANSI SGR sequences, used only when printer.colour is set.
const (
	sgrReset  = "\x1b[0m"
	sgrBold   = "\x1b[1m"
	sgrRed    = "\x1b[31m"
	sgrGreen  = "\x1b[32m"
	sgrYellow = "\x1b[33m"
)

// labelWidth is the width of the label column in a peer block.
const labelWidth = 12

const timeLayout = "2006-01-02 15:04:05 MST"

func (p *printer) paint(sgr, s string) string {
	if !p.colour || s == "" {
		return s
	}
	return sgr + s + sgrReset
}

func (p *printer) stateColour(state string) string {
	switch state {
	case control.StateEstablished:
		return sgrGreen
	case control.StateConnecting:
		return sgrYellow
	case control.StateFailed:
		return sgrRed
	}
	return ""
}

// status prints the header and one block per peer.
func (p *printer) status(st *control.Status) {
	head := []string{"metrod"}
	if st.Version != "" {
		head[0] += " " + st.Version
	}
	head = append(head, fmt.Sprintf("pid %d", st.PID))
	if !st.Since.IsZero() {
		head = append(head, fmt.Sprintf("up %s (since %s)", duration(p.now.Sub(st.Since)), p.time(st.Since)))
	}
	if st.Backend != "" {
		head = append(head, "backend "+st.Backend)
	}
	fmt.Fprintln(p.w, strings.Join(head, ", "))
	local := "none"
	if len(st.Local) > 0 {
		local = strings.Join(st.Local, ", ")
	}
	fmt.Fprintf(p.w, "local addresses: %s\n", local)

	if len(st.Peers) == 0 {
		fmt.Fprintln(p.w, "no peers configured")
		return
	}
	fmt.Fprintf(p.w, "peers: %d (%s)\n", len(st.Peers), stateCounts(st.Peers))
	for i := range st.Peers {
		fmt.Fprintln(p.w)
		p.peer(&st.Peers[i])
	}
}

// stateCounts summarises peer states, e.g. "2 established, 1 failed".
func stateCounts(peers []control.PeerStatus) string {
	var order []string
	n := map[string]int{}
	for _, ps := range peers {
		s := ps.State
		if s == "" {
			s = "unknown"
		}
		if n[s] == 0 {
			order = append(order, s)
		}
		n[s]++
	}
	parts := make([]string, len(order))
	for i, s := range order {
		parts[i] = fmt.Sprintf("%d %s", n[s], s)
	}
	return strings.Join(parts, ", ")
}

// field prints one labelled line of a peer block; an empty label continues
// the field above.
func (p *printer) field(label, format string, args ...any) {
	fmt.Fprintf(p.w, "  %-*s %s\n", labelWidth-1, label, fmt.Sprintf(format, args...))
}

func (p *printer) peer(ps *control.PeerStatus) {
	fmt.Fprintf(p.w, "%s\n", p.paint(sgrBold, "peer "+ps.Remote))
	p.field("local", "%s", orDash(ps.Local))

	auth := orDash(ps.Auth)
	if ps.PeerID != "" {
		auth += ", peer id " + ps.PeerID
	}
	p.field("auth", "%s", auth)
	if ps.CertSubject != "" || !ps.CertExpiry.IsZero() {
		cert := orDash(ps.CertSubject)
		if !ps.CertExpiry.IsZero() {
			cert += ", " + p.expiry(ps.CertExpiry)
		}
		p.field("certificate", "%s", cert)
	}

	state := p.paint(p.stateColour(ps.State), orDash(ps.State))
	if !ps.Since.IsZero() {
		state += " for " + duration(p.now.Sub(ps.Since))
	}
	if ps.State == control.StateIdle {
		state += " (on demand: no SA until traffic to the peer, which is blocked meanwhile)"
	}
	if ps.IKE != nil {
		if ps.Initiator {
			state += ", initiator"
		} else {
			state += ", responder"
		}
	}
	p.field("state", "%s", state)
	if ps.LastError != "" && ps.State != control.StateEstablished {
		p.field("last error", "%s", p.paint(sgrRed, ps.LastError))
	}

	if ps.IKE == nil {
		p.field("ike sa", "none")
	} else {
		ike := ps.IKE
		p.field("ike sa", "spi i %s  r %s", orDash(ike.SPIi), orDash(ike.SPIr))
		if algs := algorithms("encr", ike.Encr, "prf", ike.PRF, "integ", ike.Integ, "ke", ike.KE); algs != "" {
			p.field("", "%s", algs)
		}
		if t := p.lifetime(ike.Established, ike.RekeyAt); t != "" {
			p.field("", "%s", t)
		}
	}

	if len(ps.Children) == 0 && ps.State == control.StateEstablished {
		p.field("child sa", "none")
	}
	for i := range ps.Children {
		p.child(&ps.Children[i])
	}
}

func (p *printer) child(c *control.ChildStatus) {
	head := fmt.Sprintf("spi in %s  out %s", orDash(c.SPIIn), orDash(c.SPIOut))
	if c.Mode != "" {
		head += ", " + c.Mode
	}
	if c.Reqid != 0 {
		head += fmt.Sprintf(", reqid %#x", c.Reqid)
	}
	p.field("child sa", "%s", head)
	if algs := algorithms("encr", c.Encr, "integ", c.Integ, "ke", c.KE); algs != "" {
		p.field("", "%s", algs)
	}
	p.traffic(c)
	if t := p.lifetime(c.Established, c.RekeyAt); t != "" {
		p.field("", "%s", t)
	}
}

// traffic prints the byte and packet counters of a CHILD_SA, one line per
// direction, with the columns of both lines aligned.
func (p *printer) traffic(c *control.ChildStatus) {
	type row struct{ dir, bytes, approx, packets string }
	rows := []row{
		{"in", fmt.Sprint(c.BytesIn), approxBytes(c.BytesIn), fmt.Sprint(c.PacketsIn)},
		{"out", fmt.Sprint(c.BytesOut), approxBytes(c.BytesOut), fmt.Sprint(c.PacketsOut)},
	}
	var bw, aw, pw int
	for _, r := range rows {
		bw, aw, pw = max(bw, len(r.bytes)), max(aw, len(r.approx)), max(pw, len(r.packets))
	}
	for _, r := range rows {
		approx := ""
		if aw > 0 {
			approx = fmt.Sprintf(" %-*s", aw, r.approx)
		}
		p.field("", "%-3s %*s bytes%s  %*s packets", r.dir, bw, r.bytes, approx, pw, r.packets)
	}
}

// lifetime describes when an SA was established and when it rekeys.
func (p *printer) lifetime(established, rekey time.Time) string {
	var parts []string
	if !established.IsZero() {
		parts = append(parts, fmt.Sprintf("established %s (%s ago)", p.time(established), duration(p.now.Sub(established))))
	}
	if !rekey.IsZero() {
		if d := rekey.Sub(p.now); d > 0 {
			parts = append(parts, "rekey in "+duration(d))
		} else {
			parts = append(parts, "rekey due")
		}
	}
	return strings.Join(parts, ", ")
}

// expiry describes a certificate expiry time.
func (p *printer) expiry(t time.Time) string {
	if d := t.Sub(p.now); d > 0 {
		return fmt.Sprintf("expires %s (in %s)", p.time(t), duration(d))
	}
	return p.paint(sgrRed, fmt.Sprintf("expired %s", p.time(t)))
}

func (p *printer) time(t time.Time) string {
	return t.In(p.loc).Format(timeLayout)
}

// algorithms joins the non-empty (name, value) pairs: "encr X, prf Y".
func algorithms(pairs ...string) string {
	var parts []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			parts = append(parts, pairs[i]+" "+pairs[i+1])
		}
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// duration formats d compactly with at most two units: "45s", "5m3s",
// "2h7m", "3d4h". Negative durations (clock skew) print as "0s".
func duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%dm", s/3600, s%3600/60)
	default:
		return fmt.Sprintf("%dd%dh", s/86400, s%86400/3600)
	}
}

// approxBytes approximates a byte count in binary units, "(1.5 MiB)", or
// returns "" below 1 KiB.
func approxBytes(n uint64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return ""
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("(%.1f %ciB)", v, units[i])
}
