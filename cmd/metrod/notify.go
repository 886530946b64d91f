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

// handleHUP answers SIGHUP (systemctl reload) until ctx is done: it tells
// systemd RELOADING, reloads the configuration and credentials (a new
// configuration with errors is rejected, the running one stays: the error
// is logged), then tells systemd READY again so that `systemctl reload`
// returns.
func (n *notifier) handleHUP(ctx context.Context, hup <-chan os.Signal, reload func(context.Context) (string, error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			n.notify(sdnotify.SdNotifyReloading)
			out, err := reload(ctx)
			if err != nil {
				n.log.Error("SIGHUP: reload failed", "err", err)
			} else {
				n.log.Info("SIGHUP: " + out)
			}
			n.mu.Lock()
			ready := n.isReady
			n.mu.Unlock()
			if ready {
				n.notify(sdnotify.SdNotifyReady)
			}
		}
	}
}
