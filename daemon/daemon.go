package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"metro/auth"
	"metro/control"
	"metro/firewall"
	"metro/ike"
	"metro/ike/ikecrypto"
	"metro/policy"
	"metro/xfrm"
)

// Options configure one metrod run.
type Options struct {
	Load    policy.LoadOptions
	Socket  string // control socket path
	Backend string // "netlink" (default) or "memory"
	Version string
	Log     *slog.Logger
	// Ready is called once metrod runs (for service managers); may be nil.
	Ready func()

	// Firewall manages metro's nftables table (alternative ports, MSS
	// clamping). nil means the kernel's (firewall.NFT) with the netlink
	// backend, and none with the memory backend.
	Firewall firewall.Firewall
	// IgnoreAltPorts skips the alternative-port redirections (and removes
	// stale ones).
	IgnoreAltPorts bool
	// Locals, with the memory backend only, are this metrod's addresses
	// instead of all of the host's (several metrods on one loopback).
	Locals []netip.Addr

	// Resolver looks up the certificate servers' names; nil means
	// net.DefaultResolver. ResolveInterval, when set, replaces the
	// interval of their re-resolution (certs.go).
	Resolver        policy.Resolver
	ResolveInterval time.Duration

	// Handle, when set, is connected to the running daemon (for SIGHUP
	// reloads) from the moment Ready is called until Run returns.
	Handle *Handle
}

// ConfigError is a problem with the configuration or credentials, found
// before anything was installed in the kernel.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// setup is everything read from configuration and credentials.
type setup struct {
	cfg     *policy.Config
	ikeProp []ikecrypto.Proposal
	espProp []ikecrypto.Proposal
	locals  []netip.Addr
	peers   []policy.Peer

	// Certificate authentication (certs.go): nil without certificates.
	certs         *auth.CertSet
	pskPeers      []policy.Peer // the PSK peers alone
	resolveFailed bool          // some server name did not resolve
}

// load reads and checks the whole configuration; it touches nothing.
func load(o Options, log *slog.Logger) (*setup, error) {
	cfg, warns, err := policy.Load(o.Load)
	if err != nil {
		return nil, &ConfigError{err}
	}
	for _, w := range warns {
		log.Warn(w)
	}
	s := &setup{cfg: cfg}
	if cfg.IKEProposals != "" {
		if s.ikeProp, err = ikecrypto.ParseProposals(cfg.IKEProposals, false); err != nil {
			return nil, &ConfigError{fmt.Errorf("METRO_IKE_PROPOSALS (%s): %w", cfg.Sources["METRO_IKE_PROPOSALS"], err)}
		}
	}
	if cfg.ESPProposals != "" {
		if s.espProp, err = ikecrypto.ParseProposals(cfg.ESPProposals, true); err != nil {
			return nil, &ConfigError{fmt.Errorf("METRO_ESP_PROPOSALS (%s): %w", cfg.Sources["METRO_ESP_PROPOSALS"], err)}
		}
	}
	if s.locals, err = localAddrs(o); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, fmt.Errorf("reading this host's addresses: %w", err)
	}
	psks, warns, err := auth.LoadPSKDir(cfg.CredsDir, s.locals)
	if err != nil {
		return nil, &ConfigError{err}
	}
	for _, w := range warns {
		log.Warn(w)
	}
	s.peers = policy.PSKPeers(s.locals, psks)
	if err := loadCertPeers(context.Background(), s, o, log); err != nil {
		return nil, err
	}
	if len(s.peers) == 0 {
		log.Warn("no peers: no .psk file in the credentials directory lists one of this host's addresses",
			"creds_dir", cfg.CredsDir, "local_addresses", addrList(s.locals))
	}
	return s, nil
}

// Run runs metrod until ctx is done.
func Run(ctx context.Context, o Options) error {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := load(o, log)
	if err != nil {
		return err
	}

	// The control socket comes first: a second metrod must fail before it
	// touches the kernel.
	if o.Socket == "" {
		o.Socket = control.DefaultSocket
	}
	d := &daemon{log: log, opts: o, setup: s, since: time.Now(), stop: newStopper(),
		listening: map[netip.Addr]bool{}, reqids: newReqidTable()}
	srv, err := control.Listen(o.Socket, d, log)
	if err != nil {
		return err
	}
	defer srv.Close()

	switch o.Backend {
	case "", "netlink":
		d.backend = "netlink"
		d.kernel, err = xfrm.NewNetlink(log)
		if err != nil {
			return fmt.Errorf("opening XFRM netlink: %w", err)
		}
	case "memory":
		d.backend = "memory"
		log.Warn("KERNEL BACKEND IS IN MEMORY: nothing is installed in the kernel, no traffic is protected (benchmark/dry-run mode)")
		d.kernel = xfrm.NewMemory(log)
	default:
		return &ConfigError{fmt.Errorf("unknown kernel backend %q (want netlink or memory)", o.Backend)}
	}
	defer d.kernel.Close()

	if err := d.takeOver(); err != nil {
		return err
	}

	keyLog, closeKeyLog, err := openKeyLog(s.cfg.KeyLog, log)
	if err != nil {
		return err
	}
	defer closeKeyLog()

	t := newUDPTransport(log, s.cfg.NATTPort)
	defer t.close()
	d.node = ike.NewNode(ike.Config{
		KeyLog:        keyLog,
		Log:           log,
		Kernel:        d.kernel,
		Transport:     t,
		Port:          s.cfg.IKEPort,
		NATTPort:      s.cfg.NATTPort,
		IKEProposals:  s.ikeProp,
		ESPProposals:  s.espProp,
		IKELifetime:   s.cfg.IKELifetime,
		ChildLifetime: s.cfg.ChildLifetime,
		DPDInterval:   s.cfg.DPDInterval,
		OnDemand:      s.cfg.Start == policy.StartOnDemand,
		FragmentSize:  s.cfg.IKEFragmentSize, // policy.FragmentOff is negative: off

		ChildLifetimeBytes:   s.cfg.ChildLifetimeBytes,
		ChildLifetimePackets: s.cfg.ChildLifetimePackets,
	})
	if d.backend == "netlink" {
		go d.monitorKernel(ctx)
	}
	d.listen = func(local netip.Addr) error { return t.listen(local, s.cfg.IKEPort, d.node.Receive) }
	for _, l := range localsOf(s.peers) {
		if err := d.listen(l); err != nil {
			return err
		}
		d.listening[l] = true
	}
	// The configuration is fully validated and the IKE ports are ours:
	// only now is metro's nftables table installed.
	if fw, err := d.firewall(); err != nil {
		return err
	} else if fw != nil {
		if err := applyFirewall(fw, s, o.IgnoreAltPorts, log); err != nil {
			fw.Remove()
			return err
		}
		defer func() {
			if err := fw.Remove(); err != nil {
				log.Error("removing metro's nftables table", "err", err)
			}
		}()
		d.fw = fw
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.runCtx = runCtx
	for _, p := range s.peers {
		if err := d.addPeer(p); err != nil {
			return err
		}
	}
	t.start()
	go d.refreshCertPeers(runCtx)
	go func() {
		if err := srv.Serve(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("control socket", "err", err)
		}
	}()
	log.Info("metrod running", "version", o.Version, "peers", len(s.peers), "ike_port", s.cfg.IKEPort,
		"start", s.cfg.Start, "local_addresses", addrList(s.locals), "control_socket", o.Socket)
	if o.Handle != nil {
		o.Handle.set(d)
		defer o.Handle.set(nil)
	}
	if o.Ready != nil {
		o.Ready()
	}
	select {
	case <-ctx.Done():
		d.requestDown(false)
	case <-d.stop.ch:
		log.Info("stop requested through the control socket (metroctl down)")
	}
	// A reload in progress finishes first; later ones see isStopping.
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	clear := d.clearTextRequested()
	if clear {
		log.Info("stopping: deleting IKE SAs and ESP states and removing metro's policies (--enable-clear-text): traffic to peers flows in clear while metrod is off")
	} else {
		log.Info("stopping: deleting IKE SAs and ESP states; policies stay, so traffic to peers is blocked until metrod runs again")
	}
	stopCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	d.node.Close(stopCtx)
	if clear {
		removed, err := removePolicies(d.kernel)
		log.Warn("metro's policies removed: traffic with the peers is NOT protected until metrod runs again", "policies_removed", len(removed))
		if err != nil {
			return fmt.Errorf("removing metro's policies: %w", err)
		}
	}
	return nil
}

type daemon struct {
	log     *slog.Logger
	opts    Options
	since   time.Time
	backend string
	kernel  xfrm.Kernel
	node    *ike.Node
	fw      firewall.Firewall // nil: none
	runCtx  context.Context   // lifetime of the peers
	stop    *stopper

	mu    sync.Mutex // guards setup
	setup *setup

	// reloadMu serialises reloads (and the stop); it guards what follows.
	reloadMu  sync.Mutex
	listen    func(local netip.Addr) error // opens the IKE socket of a local address
	listening map[netip.Addr]bool
	reqids    *reqidTable            // per pair, stable across reloads
	loadFn    func() (*setup, error) // tests: replaces load
}

// current returns the running setup.
func (d *daemon) current() *setup {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.setup
}

func (d *daemon) setSetup(s *setup) {
	d.mu.Lock()
	d.setup = s
	d.mu.Unlock()
}

// firewall returns the Firewall to use, or nil for none.
func (d *daemon) firewall() (firewall.Firewall, error) {
	if d.opts.Firewall != nil {
		return d.opts.Firewall, nil
	}
	if d.backend == "memory" {
		return nil, nil
	}
	fw, err := firewall.NewNFT(d.log)
	if err != nil {
		return nil, err
	}
	return fw, nil
}

// takeOver removes what a previous metrod left behind: all of its states
// (their IKE SAs died with it) and the policies of pairs that are no
// longer configured. Policies of configured pairs are kept, so traffic
// never passes in clear; they are updated when the peers are added.
func (d *daemon) takeOver() error {
	states, err := d.kernel.SAs()
	if err != nil {
		return fmt.Errorf("listing leftover ESP states: %w", err)
	}
	for _, st := range states {
		if err := d.kernel.DeleteSA(st.Dst, st.SPI); err != nil {
			return fmt.Errorf("removing leftover ESP state %08x: %w", st.SPI, err)
		}
	}
	pols, err := d.kernel.Policies()
	if err != nil {
		return fmt.Errorf("listing leftover policies: %w", err)
	}
	want := map[[2]netip.Addr]bool{}
	for _, p := range d.current().peers {
		want[[2]netip.Addr{p.Local, p.Remote}] = true
		want[[2]netip.Addr{p.Remote, p.Local}] = true
	}
	removed := 0
	for _, p := range pols {
		if want[[2]netip.Addr{p.Src.Addr(), p.Dst.Addr()}] {
			continue
		}
		if err := d.kernel.DeletePolicy(p); err != nil {
			return fmt.Errorf("removing leftover policy %s -> %s: %w", p.Src, p.Dst, err)
		}
		removed++
	}
	if len(states) > 0 || removed > 0 {
		d.log.Info("took over from a previous metrod", "states_removed", len(states), "policies_removed", removed)
	}
	return nil
}

// Status implements control.Handler.
func (d *daemon) Status(ctx context.Context) (*control.Status, error) {
	st := &control.Status{
		Version: d.opts.Version, PID: os.Getpid(), Since: d.since, Backend: d.backend,
		Local: strings.Fields(addrList(d.current().locals)),
	}
	if d.node == nil {
		return st, nil
	}
	for _, p := range d.node.Peers() {
		ps := control.PeerStatus{
			Remote: p.Remote.String(), Local: p.Local.String(), Auth: p.Auth,
			State: p.State, LastError: p.LastError, Since: p.Since,
			PeerID: p.PeerID, CertSubject: p.CertSubject, CertExpiry: p.CertExpiry,
		}
		if p.IKE != nil {
			ps.Initiator = p.IKE.Initiator
			ps.IKE = &control.IKESAStatus{
				SPIi: fmt.Sprintf("%016x", p.IKE.SPIi), SPIr: fmt.Sprintf("%016x", p.IKE.SPIr),
				Encr: p.IKE.Encr, PRF: p.IKE.PRF, Integ: p.IKE.Integ, KE: p.IKE.KE,
				Established: p.IKE.Established,
			}
		}
		for _, c := range p.Children {
			cs := control.ChildStatus{
				SPIIn: fmt.Sprintf("%08x", c.SPIIn), SPIOut: fmt.Sprintf("%08x", c.SPIOut),
				Encr: c.Encr, Integ: c.Integ, KE: c.KE, Mode: "transport", Reqid: c.Reqid,
				Established: c.Established,
			}
			if in, err := d.kernel.SAStats(p.Local, c.SPIIn); err == nil {
				cs.BytesIn, cs.PacketsIn = in.Bytes, in.Packets
			}
			if out, err := d.kernel.SAStats(p.Remote, c.SPIOut); err == nil {
				cs.BytesOut, cs.PacketsOut = out.Bytes, out.Packets
			}
			ps.Children = append(ps.Children, cs)
		}
		st.Peers = append(st.Peers, ps)
	}
	return st, nil
}

// Command implements control.Handler.
func (d *daemon) Command(ctx context.Context, name string, args map[string]string) (string, error) {
	return d.command(ctx, name, args)
}

// openKeyLog opens the METRO_KEYLOG file (append, mode 0600) and warns
// loudly: whoever reads it can decrypt all traffic. An empty path means off.
func openKeyLog(path string, log *slog.Logger) (ike.KeyLogger, func(), error) {
	if path == "" {
		return nil, func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, &ConfigError{fmt.Errorf("METRO_KEYLOG: %w", err)}
	}
	log.Warn("KEY LOG IS ON: the secret keys of every IKE and ESP SA are written to "+path+
		"; anyone who can read it can decrypt and forge the protected traffic. For debugging only: unset METRO_KEYLOG",
		"keylog", path)
	fmt.Fprintf(f, "# metrod key log started %s: Wireshark ikev2_decryption_table records, and esp_sa records (the lines starting with \"IPv4\" or \"IPv6\")\n",
		time.Now().UTC().Format(time.RFC3339))
	kl := ike.NewWiresharkKeyLog(f)
	return kl, func() {
		if err := kl.Err(); err != nil {
			log.Error("writing the key log", "keylog", path, "err", err)
		}
		f.Close()
	}, nil
}

func addrList(as []netip.Addr) string {
	ss := make([]string, len(as))
	for i, a := range as {
		ss[i] = a.String()
	}
	return strings.Join(ss, " ")
}

// monitorKernel feeds the kernel's ACQUIRE and EXPIRE events to the IKE
// node: on-demand negotiation and expiry-driven rekeys. When the monitor
// reports lost notifications (xfrm.Resync), the node's CHILD_SAs are
// checked against the kernel (ike.Node.Resync, which logs what it did) on
// a goroutine of their own, so events keep flowing meanwhile; overflows
// during a check make one more check after it.
func (d *daemon) monitorKernel(ctx context.Context) {
	events := make(chan xfrm.Event, 256)
	resync := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-resync:
				d.node.Resync(ctx)
			}
		}
	}()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-events:
				if ev.Kind == xfrm.Resync {
					select {
					case resync <- struct{}{}:
					default: // one is pending already: it covers this loss too
					}
					continue
				}
				d.log.Debug("kernel event", "event", ev.String())
				d.node.KernelEvent(ev)
			}
		}
	}()
	if err := xfrm.Monitor(ctx, d.log, events); err != nil {
		d.log.Error("kernel event monitor stopped; on-demand negotiation and expiry events are off", "err", err)
	}
}
