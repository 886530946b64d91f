// Command metrod is the metro IKEv2/IPsec daemon: it protects all traffic
// between this server and its peers with ESP in transport mode.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	sdnotify "github.com/coreos/go-systemd/v22/daemon"

	"metro/control"
	"metro/daemon"
	"metro/logbuf"
	"metro/policy"
)

var version = "dev"

// stdout receives the output of --check-config and --version.
var stdout io.Writer = os.Stdout

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// registerVariableFlags defines one string flag per configuration
// variable, named by its Flag in policy.Variables() (--ike-port sets
// METRO_ISAKMP_IKE_PORT, --start METRO_START, ...), and returns the
// variable name of each flag. A flag given on the command line wins over
// the environment and the config file (policy.Load), even when empty: an
// empty value means what it means in config.env.
func registerVariableFlags(fs *flag.FlagSet) map[string]string {
	names := map[string]string{}
	for _, v := range policy.Variables() {
		if v.Flag == "" {
			continue
		}
		fs.String(v.Flag, "", v.Name+": "+v.Doc+" Wins over the environment and the config file.")
		names[v.Flag] = v.Name
	}
	return names
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("metrod", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configFile = fs.String("config", "/etc/metro/config.env", "configuration `file` of KEY=VALUE lines")
		debug      = fs.Bool("debug", false, "log debug messages (metrod always runs in the foreground)")
		socket     = fs.String("socket", control.DefaultSocket, "control socket `path`")
		backend    = fs.String("kernel", "netlink", "kernel backend: netlink, or memory (installs nothing: benchmarks and dry runs)")
		showVer    = fs.Bool("version", false, "print the version and exit")
		check      = fs.Bool("check-config", false, "validate the configuration, credentials and proposals, print the effective configuration (no secrets) and exit: 0 if valid, 1 if not; touches nothing")
		localAddrs = fs.String("local-addrs", "", "comma-separated `addresses` this metrod owns, instead of all of the host's (memory backend only: several metrods on one host's loopback, see README \"Benchmarking and dry runs\")")
		ignoreAlt  = fs.Bool("ignore-alternative-ports", false, "do not redirect METRO_ISAKMP_IKE_ALTERNATIVE_PORT and METRO_IPSEC_NAT_TRAVERSAL_ALTERNATIVE_PORT (stale redirections are removed)")
	)
	varFlags := registerVariableFlags(fs)
	var prof profiler
	prof.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: metrod [flags]\n\nmetrod negotiates IKEv2 with every peer found in the credentials directory\nand protects traffic to them with ESP in transport mode.\n\n")
		printVisibleDefaults(fs, stderr)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "metrod: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *showVer {
		fmt.Fprintln(stdout, "metrod", version)
		return 0
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" {
			explicit = true
		}
	})
	flags := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		if name, ok := varFlags[f.Name]; ok {
			flags[name] = f.Value.String()
		}
	})
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	// Routine lines are written in batches (logbuf); warnings and errors
	// at once. Flushed before metrod prints its own last words and at exit.
	lw := logbuf.NewWriter(stderr)
	defer lw.Flush()
	log := slog.New(logbuf.NewHandler(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: level}), lw, slog.LevelWarn))

	opts := daemon.Options{
		Load: policy.LoadOptions{
			ConfigFile: *configFile, ConfigExplicit: explicit,
			Environ: os.Environ(), Flags: flags,
		},
		Socket:         *socket,
		Backend:        *backend,
		Version:        version,
		Log:            log,
		IgnoreAltPorts: *ignoreAlt,
	}
	for _, f := range strings.FieldsFunc(*localAddrs, func(r rune) bool { return r == ',' || r == ' ' }) {
		a, err := netip.ParseAddr(f)
		if err != nil {
			fmt.Fprintf(stderr, "metrod: --local-addrs: %v\n", err)
			return 2
		}
		opts.Locals = append(opts.Locals, a)
	}
	if *check {
		if err := daemon.Check(opts, stdout); err != nil {
			lw.Flush()
			fmt.Fprintf(stderr, "metrod: configuration is not valid: %v\n", err)
			return 1
		}
		return 0
	}

	if err := prof.start(); err != nil {
		fmt.Fprintf(stderr, "metrod: %v\n", err)
		return 2
	}
	defer func() {
		lw.Flush() // the log lines before what the profiler prints
		prof.stop(stderr)
	}()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	n := newNotifier(log)
	opts.Ready = n.ready
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	h := &daemon.Handle{}
	opts.Handle = h
	go n.handleHUP(ctx, hup, h.Reload)
	err := daemon.Run(ctx, opts)
	n.notify(sdnotify.SdNotifyStopping)
	if err != nil {
		lw.Flush()
		fmt.Fprintf(stderr, "metrod: %v\n", err)
		return 1
	}
	return 0
}
