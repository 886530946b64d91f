package main

import (
	"context"
	"log/slog"
	"os"
	"sync"

	sdnotify "github.com/coreos/go-systemd/v22/daemon"
)

// notifier tells systemd (Type=notify) about metrod's state through
// $NOTIFY_SOCKET; without it every call is a no-op.
type notifier struct {
	log *slog.Logger

	mu      sync.Mutex
	isReady bool
}

func newNotifier(log *slog.Logger) *notifier { return &notifier{log: log} }

func (n *notifier) notify(state string) {
	if ok, err := sdnotify.SdNotify(false, state); err != nil {
		n.log.Warn("notifying systemd", "state", state, "err", err)
	} else if ok {
		n.log.Debug("notified systemd", "state", state)
	}
}

// ready is daemon.Options.Ready: metrod runs.
func (n *notifier) ready() {
	n.mu.Lock()
	n.isReady = true
	n.mu.Unlock()
	n.notify(sdnotify.SdNotifyReady)
}

// handleHUP answers SIGHUP (systemctl reload) until ctx is done. Reloading
// the configuration is not implemented yet: metrod says so and goes on,
// telling systemd it reloaded so that `systemctl reload` returns.
func (n *notifier) handleHUP(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			n.notify(sdnotify.SdNotifyReloading)
			n.log.Warn("SIGHUP: reload is not implemented yet; restart metrod to apply a new configuration")
			n.mu.Lock()
			ready := n.isReady
			n.mu.Unlock()
			if ready {
				n.notify(sdnotify.SdNotifyReady)
			}
		}
	}
}
