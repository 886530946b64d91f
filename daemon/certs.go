package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"metro/auth"
	"metro/ike"
	"metro/policy"
)

// Re-resolution of the certificate servers' names.
const (
	resolveInterval      = 5 * time.Minute  // while every name resolves
	resolveRetryInterval = 15 * time.Second // while some name does not
)

// loadCertPeers reads the certificate configuration of the credentials
// directory, resolves the servers' names and adds their peers to s.peers
// (which holds the PSK peers). No certificate means nothing to do.
func loadCertPeers(ctx context.Context, s *setup, o Options, log *slog.Logger) error {
	s.pskPeers = s.peers
	certs, notes, err := auth.LoadCertDir(auth.CertOptions{
		Dir: s.cfg.CredsDir, Domain: s.cfg.Domain, Servers: s.cfg.CRTServers,
		CAFile: s.cfg.CACert, Hostname: s.cfg.ParentHostname,
	})
	for _, n := range notes {
		if strings.HasSuffix(n, "ignored") {
			log.Info(n)
		} else {
			log.Warn(n)
		}
	}
	if err != nil {
		return &ConfigError{err}
	}
	if certs == nil {
		return nil
	}
	s.certs = certs
	log.Info("certificate authentication", "local_id", certs.Local.Name, "certificate", certs.Local.CertFile,
		"subject", certs.Local.Chain[0].Subject.String(), "expires", certs.Local.Chain[0].NotAfter.UTC().Format(time.RFC3339),
		"ca", certs.CAFile, "peers", strings.Join(certs.Peers(), " "))
	res := policy.ResolveServers(ctx, resolverOf(o), certs)
	logResolveFailures(log, res, nil)
	s.resolveFailed = len(res.Failures) > 0
	peers, err := policy.MergePeers(s.pskPeers, policy.CertPeers(s.locals, certs, res, policy.RouteSource))
	if err != nil {
		return &ConfigError{err}
	}
	s.peers = peers
	return nil
}

func resolverOf(o Options) policy.Resolver {
	if o.Resolver != nil {
		return o.Resolver
	}
	return net.DefaultResolver
}

// logResolveFailures warns about names that do not resolve (those that
// did not fail before: prev) and notes those that resolve again.
func logResolveFailures(log *slog.Logger, res policy.Resolved, prev map[string]error) {
	for _, n := range slices.Sorted(mapKeys(res.Failures)) {
		if _, ok := prev[n]; !ok {
			log.Warn("certificate server does not resolve; it is no peer until it does (retrying)", "server", n, "err", res.Failures[n])
		}
	}
	for n := range prev {
		if _, ok := res.Failures[n]; !ok {
			log.Info("certificate server resolves again", "server", n, "addresses", addrList(res.Addrs[n]))
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// refreshCertPeers resolves the certificate servers' names again from
// time to time (more often while some do not resolve) and applies address
// changes as a reload would; it also repeats the expiry warning of this
// host's certificate once a day.
func (d *daemon) refreshCertPeers(ctx context.Context) {
	interval := d.opts.ResolveInterval
	var prevFailures map[string]error
	lastExpiryWarn := time.Now()
	for {
		wait := resolveInterval
		if interval > 0 {
			wait = interval
		}
		if cur := d.current(); cur.resolveFailed && interval == 0 {
			wait = resolveRetryInterval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		d.reloadMu.Lock()
		if d.isStopping() {
			d.reloadMu.Unlock()
			return
		}
		cur := d.current()
		if cur.certs == nil {
			d.reloadMu.Unlock()
			continue
		}
		if time.Since(lastExpiryWarn) > 24*time.Hour {
			lastExpiryWarn = time.Now()
			if leaf := cur.certs.Local.Chain[0]; time.Until(leaf.NotAfter) < auth.ExpiryWarning {
				d.log.Warn("this host's certificate expires soon: renew it", "certificate", cur.certs.Local.CertFile,
					"expires", leaf.NotAfter.UTC().Format(time.RFC3339))
			}
		}
		res := policy.ResolveServers(ctx, resolverOf(d.opts), cur.certs)
		if prevFailures == nil && cur.resolveFailed {
			prevFailures = res.Failures // the load warned about them already
		}
		logResolveFailures(d.log, res, prevFailures)
		prevFailures = res.Failures
		peers, err := policy.MergePeers(cur.pskPeers, policy.CertPeers(cur.locals, cur.certs, res, policy.RouteSource))
		if err != nil {
			d.log.Error("certificate servers' new addresses rejected; the running peers stay", "err", err)
			d.reloadMu.Unlock()
			continue
		}
		next := *cur
		next.peers, next.resolveFailed = peers, len(res.Failures) > 0
		if plan := diffPeers(cur.peers, peers); plan.empty() {
			d.setSetup(&next)
			d.reloadMu.Unlock()
			continue
		}
		out, err := d.apply(ctx, &next)
		if err != nil {
			d.log.Error("applying the certificate servers' new addresses", "err", err)
		} else {
			d.log.Info("certificate servers' addresses changed", "result", out)
		}
		d.reloadMu.Unlock()
	}
}

// sameCert reports whether two certificate peers authenticate the same
// way: same names, same own certificate and key, same CA.
func sameCert(a, b *policy.CertPeer) bool {
	if !slices.Equal(a.Names, b.Names) {
		return false
	}
	x, y := a.Creds, b.Creds
	if x == y {
		return true
	}
	if x.Local == nil || y.Local == nil || !bytes.Equal(x.Local.Chain[0].Raw, y.Local.Chain[0].Raw) ||
		len(x.Local.Chain) != len(y.Local.Chain) || len(x.RootCerts) != len(y.RootCerts) || !slices.Equal(x.Servers, y.Servers) {
		return false
	}
	for i := range x.RootCerts {
		if !bytes.Equal(x.RootCerts[i].Raw, y.RootCerts[i].Raw) {
			return false
		}
	}
	return true
}

// certPeerConfig is the IKE configuration of a certificate peer.
func certPeerConfig(p policy.Peer) *ike.CertPeer {
	return &ike.CertPeer{Creds: p.Cert.Creds, Names: p.Cert.Names}
}

// authSource describes how a peer authenticates, for --check-config.
func authSource(p policy.Peer) string {
	if p.Cert != nil {
		return fmt.Sprintf("cert %s", strings.Join(p.Cert.Names, ", "))
	}
	return "psk " + p.Source()
}
