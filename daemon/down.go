package daemon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"metro/xfrm"
)

// Control commands (control.Handler.Command names) and their arguments.
const (
	CmdDown   = "down"
	CmdReload = "reload"

	// ArgClearText ("true"/"false") makes CmdDown remove metro's policies
	// too, so that the hosts talk in clear while metrod is off.
	ArgClearText = "enable-clear-text"
)

// command runs a control command.
func (d *daemon) command(ctx context.Context, name string, args map[string]string) (string, error) {
	switch name {
	case CmdReload:
		for k := range args {
			return "", fmt.Errorf("reload: unknown argument %q", k)
		}
		return d.reload(ctx)
	case CmdDown:
		clear := false
		for k, v := range args {
			if k != ArgClearText {
				return "", fmt.Errorf("down: unknown argument %q", k)
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return "", fmt.Errorf("down: %s=%q: want true or false", k, v)
			}
			clear = b
		}
		d.requestDown(clear)
		if clear {
			return "metrod is stopping: deleting the IKE SAs and ESP states and removing metro's policies; traffic with the peers will flow in clear", nil
		}
		return "metrod is stopping: deleting the IKE SAs and ESP states; the policies stay, so traffic with the peers is blocked until metrod runs again", nil
	}
	return "", fmt.Errorf("unknown command %q", name)
}

// stopper is how metrod is asked to stop other than by its context.
type stopper struct {
	once  sync.Once
	ch    chan struct{}
	mu    sync.Mutex
	clear bool
}

func newStopper() *stopper { return &stopper{ch: make(chan struct{})} }

// requestDown asks Run to stop; with clear, metro's policies are removed
// too. Asking again with clear upgrades a pending stop.
func (d *daemon) requestDown(clear bool) {
	d.stop.mu.Lock()
	d.stop.clear = d.stop.clear || clear
	d.stop.mu.Unlock()
	d.stop.once.Do(func() { close(d.stop.ch) })
}

// isStopping reports whether a stop was requested.
func (d *daemon) isStopping() bool {
	select {
	case <-d.stop.ch:
		return true
	default:
		return false
	}
}

func (d *daemon) clearTextRequested() bool {
	d.stop.mu.Lock()
	defer d.stop.mu.Unlock()
	return d.stop.clear
}

// removePolicies deletes every policy metro owns (protecting and
// neighbour-discovery bypass ones; nothing foreign) and returns them.
func removePolicies(k xfrm.Kernel) ([]xfrm.Policy, error) {
	pols, err := k.Policies()
	if err != nil {
		return nil, fmt.Errorf("listing metro's policies: %w", err)
	}
	var removed []xfrm.Policy
	var errs []error
	for _, p := range pols {
		if err := k.DeletePolicy(p); err != nil {
			errs = append(errs, fmt.Errorf("removing policy %s: %w", p, err))
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// Handle reaches a running metrod from the code that called Run (for
// SIGHUP). Its zero value is ready: pass it in Options.Handle.
type Handle struct {
	mu sync.Mutex
	d  *daemon
}

// ErrNotReady is returned by Handle methods before metrod runs or after it
// stopped.
var ErrNotReady = errors.New("metrod is not running yet (or any more)")

func (h *Handle) set(d *daemon) {
	h.mu.Lock()
	h.d = d
	h.mu.Unlock()
}

func (h *Handle) get() *daemon {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.d
}

// Reload re-reads the configuration and credentials and applies them, as
// `metroctl reload` does; it returns a summary of what changed. A new
// configuration with errors is rejected as a whole: the running one stays.
func (h *Handle) Reload(ctx context.Context) (string, error) {
	d := h.get()
	if d == nil {
		return "", ErrNotReady
	}
	return d.reload(ctx)
}
