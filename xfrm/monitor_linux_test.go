package xfrm

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nlDatagram wraps a notification payload in a netlink header.
func nlDatagram(typ uint16, payload []byte) []byte {
	b := make([]byte, sizeofNlmsghdr, sizeofNlmsghdr+len(payload))
	binary.NativeEndian.PutUint32(b[0:], uint32(sizeofNlmsghdr+len(payload)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	return append(b, payload...)
}

// fakeRecv plays a scripted sequence of recvmsg results, then blocks until
// ctx is done, as the real socket does. Each step is a datagram or an
// error.
type fakeStep struct {
	data []byte
	err  error
}

func fakeRecv(ctx context.Context, steps []fakeStep) (monitorRecv, func() int) {
	i := 0
	recv := func(buf []byte) (int, int, unix.Sockaddr, error) {
		if i == len(steps) {
			<-ctx.Done()
			return 0, 0, nil, fmt.Errorf("reading: %w", ctx.Err())
		}
		s := steps[i]
		i++
		if s.err != nil {
			return 0, 0, nil, s.err
		}
		n := copy(buf, s.data)
		return n, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}, nil
	}
	return recv, func() int { return i }
}

// TestMonitorOverflowResync: an ENOBUFS from recvmsg (the kernel dropped
// notifications) becomes one Resync event, in order, and the monitor
// keeps reading: the notifications after it are delivered too.
func TestMonitorOverflowResync(t *testing.T) {
	src, dst := mustAddr("192.0.2.1"), mustAddr("192.0.2.2")
	steps := []fakeStep{
		{data: nlDatagram(xfrmMsgAcquire, rawAcquire(2, src, dst, ReqidBase+1))},
		{err: fmt.Errorf("recvmsg: %w", unix.ENOBUFS)},
		{err: fmt.Errorf("recvmsg: %w", unix.EINTR)},
		{data: nlDatagram(xfrmMsgExpire, rawExpire(2, src, dst, 0x1234, ReqidBase+1, true))},
		{err: fmt.Errorf("recvmsg: %w", unix.ENOBUFS)},
		{data: nlDatagram(xfrmMsgAcquire, rawAcquire(2, dst, src, ReqidBase+2))},
	}
	want := []Event{
		{Kind: Acquire, Src: src, Dst: dst, Reqid: ReqidBase + 1},
		{Kind: Resync},
		{Kind: HardExpire, Src: src, Dst: dst, SPI: 0x1234, Reqid: ReqidBase + 1},
		{Kind: Resync},
		{Kind: Acquire, Src: dst, Dst: src, Reqid: ReqidBase + 2},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recv, read := fakeRecv(ctx, steps)
	var logs logBuffer
	events := make(chan Event) // unbuffered: the loop waits for each send
	done := make(chan error, 1)
	go func() { done <- monitorLoop(ctx, slog.New(slog.NewTextHandler(&logs, nil)), recv, events) }()
	for i, w := range want {
		select {
		case ev := <-events:
			if ev != w {
				t.Fatalf("event %d: got %v, want %v", i, ev, w)
			}
		case err := <-done:
			t.Fatalf("monitor stopped after %d events: %v", i, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no event %d (%v)", i, w)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("monitor returned %v after its context ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("monitor did not stop with its context")
	}
	if n := read(); n != len(steps) {
		t.Errorf("monitor read %d of %d datagrams", n, len(steps))
	}
	if strings.Contains(logs.String(), "level=WARN") || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("the monitor warned itself (the resync's receiver reports the overflow):\n%s", logs.String())
	}
}

// TestMonitorFatalRecvError: any other recvmsg error stops the monitor
// with that error.
func TestMonitorFatalRecvError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recv, _ := fakeRecv(ctx, []fakeStep{{err: fmt.Errorf("recvmsg: %w", unix.EBADF)}})
	err := monitorLoop(ctx, slog.New(slog.DiscardHandler), recv, make(chan Event))
	if err == nil || !strings.Contains(err.Error(), "xfrm monitor: recvmsg") || !strings.Contains(err.Error(), unix.EBADF.Error()) {
		t.Errorf("got %v, want the recvmsg error", err)
	}
}
