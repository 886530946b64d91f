package ike

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
)

// eventLog collects PeerEvents.
type eventLog struct {
	mu  sync.Mutex
	evs []PeerEvent
}

func (l *eventLog) add(ev PeerEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

func (l *eventLog) list() []PeerEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]PeerEvent(nil), l.evs...)
}

func TestOnPeerEventEstablished(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		net := &memNet{}
		var la, lb eventLog
		a := newHost(t, net, "10.0.0.1", Config{OnPeerEvent: la.add})
		b := newHost(t, net, "10.0.0.2", Config{OnPeerEvent: lb.add})
		connect(t, ctx, a, b, "secret", "secret")
		waitState(t, a, StateEstablished)
		waitState(t, b, StateEstablished)
		synctest.Wait()
		ea, eb := la.list(), lb.list()
		if len(ea) != 1 || len(eb) != 1 {
			t.Fatalf("got %d and %d events, want one established event on each side: %+v / %+v", len(ea), len(eb), ea, eb)
		}
		for _, c := range []struct {
			ev          PeerEvent
			host, other *testHost
		}{{ea[0], a, b}, {eb[0], b, a}} {
			if !c.ev.Established || c.ev.Err != "" || c.ev.Local != c.host.addr || c.ev.Remote != c.other.addr {
				t.Errorf("host %s: event %+v, want established from %s to %s", c.host.addr, c.ev, c.host.addr, c.other.addr)
			}
			if want := c.host.node.Peers()[0].IKE.Initiator; c.ev.Initiator != want {
				t.Errorf("host %s: event says initiator=%v, status says %v", c.host.addr, c.ev.Initiator, want)
			}
		}
		if ea[0].Initiator == eb[0].Initiator {
			t.Errorf("both hosts report initiator=%v; exactly one initiated the IKE SA", ea[0].Initiator)
		}
		finish(cancel, a, b)
	})
}

func TestOnPeerEventFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		net := &memNet{}
		var la eventLog
		a := newHost(t, net, "10.0.0.1", Config{OnPeerEvent: la.add})
		b := newHost(t, net, "10.0.0.2", Config{})
		connect(t, ctx, a, b, "secret-a", "secret-b")
		waitState(t, a, StateFailed)
		synctest.Wait()
		evs := la.list()
		if len(evs) == 0 {
			t.Fatal("no event for a failed negotiation")
		}
		for _, ev := range evs {
			if ev.Established || !strings.Contains(ev.Err, "authentication failed") || ev.Remote != b.addr {
				t.Errorf("event %+v, want a failure with peer %s saying authentication failed", ev, b.addr)
			}
		}
		finish(cancel, a, b)
	})
}
