package ike

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"metro/xfrm"
)

// Resynchronisation after lost kernel notifications.
//
// When the monitor socket overflows, some ACQUIRE and EXPIRE notifications
// never arrive. What each loss costs, and what Resync does about it:
//
//   - a hard EXPIRE: the kernel removed a CHILD_SA state but the peer still
//     believes the CHILD_SA up, and its traffic is blocked until the next
//     rekey. Resync finds such children (a state missing from the kernel)
//     and handles them as a hard expiry: the IKE SA is deleted; in connect
//     mode a new one is negotiated at once, on demand the peer goes idle
//     and the next packet (ACQUIRE) negotiates.
//   - a soft EXPIRE: nothing; the peer's own rekey timers, which run
//     before the kernel's soft limit, rekey the CHILD_SA anyway.
//   - an ACQUIRE (on demand, a peer without SA): nothing. Whether traffic
//     waits cannot be known from the tables, and the kernel raises the
//     ACQUIRE again once its larval state times out
//     (net.core.xfrm_acq_expires, 30 s by default), so the negotiation is
//     delayed, not lost. In connect mode a peer without SA negotiates or
//     retries by itself.

// resyncWait bounds how long Resync waits for the peers to report. A peer
// in the middle of an exchange checks when the exchange ends, which may
// take its retransmissions (a minute); Resync does not wait for that.
const resyncWait = 5 * time.Second

// stateID identifies a kernel state.
type stateID struct {
	dst netip.Addr
	spi uint32
}

// resyncRun is one resynchronisation: the kernel's states, listed once and
// shared read-only by every peer, and where the peers report.
type resyncRun struct {
	states  map[stateID]struct{}
	reports chan resyncReport // one per peer, buffered for all
}

type resyncReport struct {
	checked, missing int // CHILD_SAs checked (0 or 1) and found missing
}

// ResyncResult is what Resync did.
type ResyncResult struct {
	Peers   int   // peers asked to check
	Checked int   // CHILD_SAs compared with the kernel
	Missing int   // of which a state was missing (handled as a hard expiry)
	Busy    int   // peers that had not checked yet when Resync returned
	Err     error // listing the kernel's states failed: nothing was checked
}

// Resync compares every peer's CHILD_SA with the kernel's states after
// kernel notifications were lost (an xfrm.Resync event from the monitor).
// It lists the kernel once; each peer checks on its own goroutine, and a
// CHILD_SA whose inbound or outbound state is gone is handled as a hard
// expiry (see above for the other notifications). Resync waits for the
// peers (at most resyncWait, or until ctx ends), logs one warning with
// what was done, and returns it. Callers coalesce overflows that come
// while a Resync runs into one more Resync after it.
func (n *Node) Resync(ctx context.Context) ResyncResult {
	const lost = "kernel notifications were lost (socket overflow)"
	sas, err := n.cfg.Kernel.SAs()
	if err != nil {
		n.log.Warn(lost+": cannot list the kernel's states to check the CHILD_SAs; rekey timers and retries still run", "err", err)
		return ResyncResult{Err: err}
	}
	r := &resyncRun{states: make(map[stateID]struct{}, len(sas))}
	for _, sa := range sas {
		r.states[stateID{sa.Dst, sa.SPI}] = struct{}{}
	}
	n.mu.Lock()
	peers := make([]*peer, 0, len(n.peers))
	for _, p := range n.peers {
		peers = append(peers, p)
	}
	n.mu.Unlock()
	r.reports = make(chan resyncReport, len(peers))
	asked := 0
	for _, p := range peers {
		// A peer that finished (removed, shutting down) has nothing to check.
		if p.tryPost(evKernel{ev: xfrm.Event{Kind: xfrm.Resync}, resync: r}) {
			asked++
		}
	}

	res := ResyncResult{Peers: asked, Busy: asked}
	timer := time.NewTimer(resyncWait)
	defer timer.Stop()
wait:
	for res.Busy > 0 {
		select {
		case rep := <-r.reports:
			res.Busy--
			res.Checked += rep.checked
			res.Missing += rep.missing
		case <-timer.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}

	var what string
	switch {
	case res.Missing == 0:
		what = "none missing"
	case n.cfg.OnDemand:
		what = fmt.Sprintf("%d missing: removed, idle until traffic waits for them (start on demand)", res.Missing)
	default:
		what = fmt.Sprintf("%d missing: renegotiating", res.Missing)
	}
	msg := fmt.Sprintf("%s: checked %d CHILD_SAs against the kernel, %s", lost, res.Checked, what)
	if res.Busy > 0 {
		msg += fmt.Sprintf("; %d peers busy in an exchange check when it ends", res.Busy)
	}
	if n.cfg.OnDemand {
		msg += "; a lost ACQUIRE is raised again by the kernel (net.core.xfrm_acq_expires)"
	}
	n.log.Warn(msg)
	return res
}

// onResync checks the peer's CHILD_SA against the listed states and
// reports to r. A state absent from the listing is looked up again
// before anything is done: the listing may predate a CHILD_SA installed
// since (a rekey), which the lookup finds.
func (p *peer) onResync(r *resyncRun) {
	var rep resyncReport
	defer func() { r.reports <- rep }()
	sa := p.current
	if sa == nil || sa.child == nil || p.closing {
		return
	}
	c := sa.child
	rep.checked = 1
	var gone []string
	if c.installed && p.stateGone(r, p.cfg.Local, c.spiIn) {
		gone = append(gone, "inbound "+hex32(c.spiIn))
	}
	if !c.outRemoved && c.pendingOut == nil && p.stateGone(r, p.cfg.Remote, c.spiOut) {
		gone = append(gone, "outbound "+hex32(c.spiOut))
	}
	if len(gone) == 0 {
		return
	}
	rep.missing = 1
	p.log.Info("CHILD_SA state missing from the kernel (its expiry notification was lost); negotiating again", "states", gone)
	p.childLost(sa, "CHILD_SA state missing from the kernel")
}

// stateGone reports whether the state (dst, spi) is absent from the
// listing and, asked again, from the kernel.
func (p *peer) stateGone(r *resyncRun, dst netip.Addr, spi uint32) bool {
	if _, ok := r.states[stateID{dst, spi}]; ok {
		return false
	}
	_, err := p.n.cfg.Kernel.SAStats(dst, spi)
	return errors.Is(err, xfrm.ErrNotFound)
}
