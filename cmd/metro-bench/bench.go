package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"metro/auth"
	"metro/ike"
	"metro/ike/ikecrypto"
	"metro/xfrm"
)

// options configure one load run.
type options struct {
	Label     string
	Target    netip.AddrPort // the responder
	LocalPort uint16         // port the initiators bind (metrod answers to its own IKE port)
	Src       netip.Addr     // first initiator address; setup i uses Src+i
	N, C      int            // setups to complete, initiators at once
	PSK       auth.Secret
	IKE, ESP  []ikecrypto.Proposal // nil: metro's defaults
	Timeout   time.Duration        // one setup's limit
	Deadline  time.Duration        // the whole run's limit
	Hold      time.Duration        // keep the SAs open this long after the run, then sample the responder again
	Tunnel    bool                 // accept tunnel-mode CHILD_SAs (charon with kernel-libipsec)
	PID       int                  // responder process to sample (0: none)
	Log       *slog.Logger
}

// result is what a run measured. Durations are in milliseconds in JSON.
type result struct {
	Label        string        `json:"label"`
	Target       string        `json:"target"`
	N            int           `json:"n"`
	Concurrency  int           `json:"concurrency"`
	Established  int           `json:"established"`
	ByResponder  int           `json:"established_by_responder"` // crossed initiations the responder won
	Failed       int           `json:"failed"`
	NotStarted   int           `json:"not_started"`
	Failures     []reasonCount `json:"failures"`
	ElapsedMS    float64       `json:"elapsed_ms"`
	SetupsPerSec float64       `json:"setups_per_sec"`
	P50MS        float64       `json:"p50_ms"`
	P90MS        float64       `json:"p90_ms"`
	P99MS        float64       `json:"p99_ms"`
	MaxMS        float64       `json:"max_ms"`
	BenchCPUMS   float64       `json:"bench_cpu_ms"`

	// Responder figures, when PID was given.
	ResponderPID       int     `json:"responder_pid,omitempty"`
	ResponderCPUMS     float64 `json:"responder_cpu_ms"`
	CPUMSPerSetup      float64 `json:"responder_cpu_ms_per_setup"`
	RSSBefore          int64   `json:"responder_rss_before"`
	RSSAfter           int64   `json:"responder_rss_after"`
	RSSHeld            int64   `json:"responder_rss_held,omitempty"`
	RSSPerPeer         float64 `json:"responder_rss_per_peer"`       // (after or held - before) / established
	RSSTotalPerPeer    float64 `json:"responder_rss_total_per_peer"` // after or held / established
	ResponderSampleErr string  `json:"responder_sample_error,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// run drives the responder until N setups completed (or failed), then
// reports.
func run(ctx context.Context, o options) (*result, error) {
	if o.N <= 0 || o.C <= 0 {
		return nil, fmt.Errorf("-n and -c must be positive")
	}
	if !o.Target.Addr().IsLoopback() || !o.Src.IsLoopback() {
		return nil, fmt.Errorf("target %s and source %s must be loopback addresses (the generator runs on loopback or in a private namespace only)", o.Target.Addr(), o.Src)
	}
	last := o.Src
	for range o.N - 1 {
		last = last.Next()
	}
	if !last.IsLoopback() {
		return nil, fmt.Errorf("%d initiator addresses from %s leave the loopback range", o.N, o.Src)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	events := make(chan ike.PeerEvent, 4*o.N+64)
	tr := newUDPTransport(o.Log, o.Target, o.LocalPort)
	defer tr.closeAll()
	node := ike.NewNode(ike.Config{
		Log:          o.Log,
		Kernel:       xfrm.NewMemory(nil),
		Transport:    tr,
		Port:         o.LocalPort,
		IKEProposals: o.IKE,
		ESPProposals: o.ESP,
		// charon's kernel-libipsec has no transport mode: it answers
		// with tunnel mode, which is the same work for both sides.
		BenchAcceptTunnel: o.Tunnel,
		OnPeerEvent: func(ev ike.PeerEvent) {
			select {
			case events <- ev:
			default: // cannot happen: the buffer holds more than we ever send
			}
		},
	})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	res := &result{Label: o.Label, Target: o.Target.String(), N: o.N, Concurrency: o.C, ResponderPID: o.PID}
	reasons := map[string]int{}
	var lat []time.Duration
	sample := func() (procSample, bool) {
		if o.PID == 0 {
			return procSample{}, false
		}
		s, err := sampleProc(o.PID)
		if err != nil {
			res.ResponderSampleErr = err.Error()
			return procSample{}, false
		}
		return s, true
	}
	selfBefore, _ := sampleProc(os.Getpid())
	before, haveBefore := sample()

	inflight := map[netip.Addr]time.Time{}
	remove := func(a netip.Addr) {
		rc, stop := context.WithTimeout(ctx, 5*time.Second)
		defer stop()
		_ = node.RemovePeer(rc, a, o.Target.Addr(), true)
	}
	fail := func(a netip.Addr, why string) {
		if len(why) > 160 {
			why = why[:160] + "..."
		}
		reasons[why]++
		res.Failed++
		delete(inflight, a)
		go remove(a)
	}
	start := time.Now()
	deadline := time.NewTimer(o.Deadline)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	next, addr, done := 0, o.Src, 0
	reqid := xfrm.ReqidBase + 1
loop:
	for done < o.N {
		for len(inflight) < o.C && next < o.N {
			a := addr
			addr = addr.Next()
			next++
			c, err := tr.open(a)
			if err != nil {
				reasons[err.Error()]++
				res.Failed++
				done++
				continue
			}
			inflight[a] = time.Now()
			err = node.AddPeer(runCtx, ike.PeerConfig{Local: a, Remote: o.Target.Addr(), PSK: o.PSK, PSKSource: "metro-bench", Reqid: reqid})
			reqid++
			go tr.serve(c, node.Receive)
			if err != nil {
				fail(a, "adding peer: "+err.Error())
				done++
			}
		}
		if done >= o.N {
			break
		}
		select {
		case ev := <-events:
			t0, ok := inflight[ev.Local]
			if !ok {
				continue // a late event of a peer already counted
			}
			done++
			if ev.Established {
				delete(inflight, ev.Local)
				lat = append(lat, time.Since(t0))
				res.Established++
				if !ev.Initiator {
					res.ByResponder++
				}
			} else {
				fail(ev.Local, ev.Err)
			}
		case now := <-tick.C:
			for a, t0 := range inflight {
				if now.Sub(t0) > o.Timeout {
					fail(a, fmt.Sprintf("no setup within %s", o.Timeout))
					done++
				}
			}
		case <-deadline.C:
			for a := range inflight {
				fail(a, fmt.Sprintf("run deadline %s reached", o.Deadline))
				done++
			}
			res.NotStarted = o.N - next
			break loop
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	elapsed := time.Since(start)
	after, haveAfter := sample()
	selfAfter, _ := sampleProc(os.Getpid())

	res.Failures = sortedReasons(reasons)
	res.ElapsedMS = ms(elapsed)
	if elapsed > 0 {
		res.SetupsPerSec = float64(res.Established) / elapsed.Seconds()
	}
	p50, p90, p99, pmax := latencySummary(lat)
	res.P50MS, res.P90MS, res.P99MS, res.MaxMS = ms(p50), ms(p90), ms(p99), ms(pmax)
	res.BenchCPUMS = ms(selfAfter.CPU - selfBefore.CPU)
	if haveBefore && haveAfter {
		res.ResponderCPUMS = ms(after.CPU - before.CPU)
		if res.Established > 0 {
			res.CPUMSPerSetup = res.ResponderCPUMS / float64(res.Established)
		}
		res.RSSBefore, res.RSSAfter = before.RSS, after.RSS
		mem := after.RSS
		if o.Hold > 0 {
			o.Log.Info("holding the SAs open", "for", o.Hold)
			select {
			case <-time.After(o.Hold):
			case <-ctx.Done():
			}
			if held, ok := sample(); ok {
				res.RSSHeld, mem = held.RSS, held.RSS
			}
		}
		if res.Established > 0 {
			res.RSSPerPeer = float64(mem-before.RSS) / float64(res.Established)
			res.RSSTotalPerPeer = float64(mem) / float64(res.Established)
		}
	}
	cctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	node.Close(cctx)
	return res, nil
}
