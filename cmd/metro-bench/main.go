// Command metro-bench is an IKEv2 load generator built on metro's own IKE
// implementation. It drives one responder (metrod, charon, ...) at a
// loopback address with C concurrent initiators until N IKE SA + CHILD_SA
// setups completed, each from its own loopback address with its own SPIs,
// nonces and key shares, and reports setups/s, setup latency percentiles
// and failures by reason. Given the responder's PID it also reports the
// responder's CPU time per setup and resident memory per established peer,
// read from /proc.
//
// Every initiator address must be configured as a PSK peer of the
// responder (metrod: one .psk group listing them; charon: a connection
// accepting any remote). Initiators bind their own address at the
// responder's IKE port unless -local-port says otherwise, because metrod
// answers to its IKE port.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"metro/auth"
	"metro/ike/ikecrypto"
)

func main() {
	os.Exit(mainErr(os.Args[1:], os.Stdout, os.Stderr))
}

func mainErr(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("metro-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		label     = fs.String("label", "", "name of the responder in the report")
		target    = fs.String("target", "127.0.1.1:500", "responder `address:port` (loopback)")
		localPort = fs.Int("local-port", 0, "`port` the initiators bind (default: the target's port)")
		src       = fs.String("src", "127.0.2.1", "first initiator `address`; setup i uses the i-th address after it (loopback)")
		n         = fs.Int("n", 100, "setups (IKE SA + CHILD_SA) to complete")
		c         = fs.Int("c", 10, "concurrent initiators")
		pskFile   = fs.String("psk-file", "", "`file` in .psk format whose key the initiators use")
		ikeProps  = fs.String("ike", "aes256gcm16-prfsha256-x25519", "IKE `proposals` (strongSwan syntax)")
		espProps  = fs.String("esp", "aes256gcm16", "ESP `proposals` (strongSwan syntax)")
		timeout   = fs.Duration("timeout", 15*time.Second, "limit for one setup")
		deadline  = fs.Duration("deadline", 120*time.Second, "limit for the whole run")
		hold      = fs.Duration("hold", 0, "keep the SAs open this long after the run, then sample the responder's memory again")
		pid       = fs.Int("pid", 0, "responder `PID` whose CPU time and RSS to sample from /proc")
		jsonOut   = fs.String("json", "", "also write the result as JSON to `file`")
		verbose   = fs.Bool("v", false, "log the IKE node's warnings")
		tunnel    = fs.Bool("accept-tunnel", false, "accept CHILD_SAs the responder sets up in tunnel mode (charon with kernel-libipsec, which has no transport mode)")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "metro-bench: "+format+"\n", a...)
		return 2
	}
	o := options{Label: *label, N: *n, C: *c, Timeout: *timeout, Deadline: *deadline, Hold: *hold, PID: *pid, Tunnel: *tunnel}
	var err error
	if o.Target, err = netip.ParseAddrPort(*target); err != nil {
		return fail("-target: %v", err)
	}
	o.LocalPort = o.Target.Port()
	if *localPort != 0 {
		if *localPort < 0 || *localPort > 65535 {
			return fail("-local-port %d out of range", *localPort)
		}
		o.LocalPort = uint16(*localPort)
	}
	if o.Src, err = netip.ParseAddr(*src); err != nil {
		return fail("-src: %v", err)
	}
	if *pskFile == "" {
		return fail("-psk-file is required")
	}
	data, err := os.ReadFile(*pskFile)
	if err != nil {
		return fail("%v", err)
	}
	f, err := auth.ParsePSK(*pskFile, data)
	if err != nil {
		return fail("%v", err)
	}
	o.PSK = f.Key
	if o.IKE, err = ikecrypto.ParseProposals(*ikeProps, false); err != nil {
		return fail("-ike: %v", err)
	}
	if o.ESP, err = ikecrypto.ParseProposals(*espProps, true); err != nil {
		return fail("-esp: %v", err)
	}
	if *label == "" {
		o.Label = o.Target.String()
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelWarn
	}
	o.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "metro-bench: %v\n", err)
		return 1
	}
	report(stdout, res)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintf(stderr, "metro-bench: %v\n", err)
			return 1
		}
	}
	if res.Established == 0 {
		return 1
	}
	return 0
}

// report prints a result for people.
func report(w io.Writer, r *result) {
	fmt.Fprintf(w, "%s: %d/%d setups established (%d failed, %d not started) in %.0f ms with %d initiators at once\n",
		r.Label, r.Established, r.N, r.Failed, r.NotStarted, r.ElapsedMS, r.Concurrency)
	fmt.Fprintf(w, "  setups/s %.1f   latency p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms\n",
		r.SetupsPerSec, r.P50MS, r.P90MS, r.P99MS, r.MaxMS)
	if r.ByResponder > 0 {
		fmt.Fprintf(w, "  %d of them initiated by the responder (crossed initiations)\n", r.ByResponder)
	}
	if r.ResponderPID != 0 {
		fmt.Fprintf(w, "  responder pid %d: CPU %.0f ms (%.3f ms/setup), RSS %s -> %s", r.ResponderPID,
			r.ResponderCPUMS, r.CPUMSPerSetup, kib(r.RSSBefore), kib(r.RSSAfter))
		if r.RSSHeld != 0 {
			fmt.Fprintf(w, " (held: %s)", kib(r.RSSHeld))
		}
		fmt.Fprintf(w, ", %.1f KiB more per established peer\n", r.RSSPerPeer/1024)
	}
	if r.ResponderSampleErr != "" {
		fmt.Fprintf(w, "  sampling the responder failed: %s\n", r.ResponderSampleErr)
	}
	fmt.Fprintf(w, "  load generator CPU %.0f ms\n", r.BenchCPUMS)
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  failed %dx: %s\n", f.Count, f.Reason)
	}
}

func kib(b int64) string { return strconv.FormatInt(b/1024, 10) + " KiB" }
