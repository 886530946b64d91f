//go:build linux

package xfrm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// monitorRcvBuf is the receive buffer asked for the monitor socket: an
// ACQUIRE storm (many peers starting at once) must not overflow it.
const monitorRcvBuf = 8 << 20

// Monitor reports the kernel's ACQUIRE and EXPIRE notifications on events
// until ctx is done (then it returns nil). It opens its own NETLINK_XFRM
// socket in the calling thread's network namespace, subscribed to
// XFRMNLGRP_ACQUIRE and XFRMNLGRP_EXPIRE. When the socket overflows
// (ENOBUFS) notifications are lost: Monitor logs it, sends a Resync event
// (the receiver must compare what it believes installed with the kernel's
// tables) and keeps reading. Sending on events blocks, so a slow reader
// shows up as overflows, not as lost memory.
func Monitor(ctx context.Context, log *slog.Logger, events chan<- Event) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, err := openMonitorSocket(log)
	if err != nil {
		return err
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("xfrm monitor: %w", err)
	}

	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			_ = f.SetReadDeadline(time.Unix(1, 0)) // wakes the blocked read
		case <-stop:
		}
	}()

	recv := func(buf []byte) (n, flags int, from unix.Sockaddr, err error) {
		var rerr error
		err = rc.Read(func(fd uintptr) bool {
			n, _, flags, from, rerr = unix.Recvmsg(int(fd), buf, nil, 0)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if err != nil {
			return 0, 0, nil, fmt.Errorf("reading: %w", err)
		}
		if rerr != nil {
			return 0, 0, nil, fmt.Errorf("recvmsg: %w", rerr)
		}
		return n, flags, from, nil
	}
	return monitorLoop(ctx, log, recv, events)
}

// monitorRecv reads one datagram of the monitor socket (recvmsg). Errors
// wrap the errno: ENOBUFS (the socket overflowed) and EINTR are not fatal.
type monitorRecv func(buf []byte) (n, flags int, from unix.Sockaddr, err error)

// monitorLoop is Monitor's reading loop over recv (the socket, or a fake
// in tests): it parses the datagrams into events and turns overflows into
// Resync events, until ctx is done or recv fails.
func monitorLoop(ctx context.Context, log *slog.Logger, recv monitorRecv, events chan<- Event) error {
	send := func(ev Event) bool {
		select {
		case events <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	buf := make([]byte, 1<<16)
	for {
		n, flags, from, err := recv(buf)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case errors.Is(err, unix.ENOBUFS):
			// The kernel dropped notifications; the socket stays usable.
			log.Debug("xfrm monitor: kernel notifications lost (socket overflow): asking for a resync")
			if !send(Event{Kind: Resync}) {
				return nil
			}
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("xfrm monitor: %w", err)
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // only the kernel may speak on these groups
		}
		if flags&unix.MSG_TRUNC != 0 {
			log.Warn("xfrm monitor: truncated netlink datagram: asking for a resync", "size", n)
			if !send(Event{Kind: Resync}) {
				return nil
			}
			continue
		}
		var evs []Event
		err = netlinkMessages(buf[:n], func(typ, _ uint16, payload []byte) error {
			ev, ok, err := parseNotification(typ, payload)
			if err != nil {
				log.Warn("xfrm monitor: malformed notification", "type", typ, "err", err)
				return nil
			}
			if ok {
				evs = append(evs, ev)
			}
			return nil
		})
		if err != nil {
			log.Warn("xfrm monitor: malformed datagram", "err", err)
		}
		for _, ev := range evs {
			log.Debug("xfrm monitor: event", "event", ev.String())
			if !send(ev) {
				return nil
			}
		}
	}
}

// openMonitorSocket opens the non-blocking subscribed socket, wrapped in
// an *os.File so reads go through the runtime poller and honour deadlines.
func openMonitorSocket(log *slog.Logger) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_XFRM)
	if err != nil {
		return nil, fmt.Errorf("xfrm monitor: socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, monitorRcvBuf); err != nil {
		// Without CAP_NET_ADMIN the size is capped by net.core.rmem_max.
		if err2 := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, monitorRcvBuf); err2 != nil {
			log.Warn("xfrm monitor: cannot enlarge receive buffer", "err", err2)
		}
	}
	groups := uint32(1<<(xfrmnlgrpAcquire-1) | 1<<(xfrmnlgrpExpire-1))
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("xfrm monitor: bind to groups %#x: %w", groups, err)
	}
	return os.NewFile(uintptr(fd), "xfrm-monitor"), nil
}
