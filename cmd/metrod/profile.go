package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

// profiler holds metrod's hidden profiling flags (benchmarks only; not in
// the usage text): --cpuprofile writes a CPU profile of the whole run,
// --memprofile a heap profile taken at exit.
type profiler struct {
	cpu, mem string
	cpuFile  *os.File
}

// hiddenFlags are left out of the usage text.
var hiddenFlags = map[string]bool{"cpuprofile": true, "memprofile": true}

func (p *profiler) register(fs *flag.FlagSet) {
	fs.StringVar(&p.cpu, "cpuprofile", "", "write a CPU profile to `file` (benchmarks)")
	fs.StringVar(&p.mem, "memprofile", "", "write a heap profile to `file` at exit (benchmarks)")
}

// start begins CPU profiling if asked.
func (p *profiler) start() error {
	if p.cpu == "" {
		return nil
	}
	f, err := os.Create(p.cpu)
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--cpuprofile %s: %w", p.cpu, err)
	}
	p.cpuFile = f
	return nil
}

// stop ends CPU profiling and writes the heap profile; errors go to
// stderr (metrod is exiting).
func (p *profiler) stop(stderr io.Writer) {
	if p.cpuFile != nil {
		pprof.StopCPUProfile()
		if err := p.cpuFile.Close(); err != nil {
			fmt.Fprintf(stderr, "metrod: --cpuprofile %s: %v\n", p.cpu, err)
		}
		p.cpuFile = nil
	}
	if p.mem == "" {
		return
	}
	f, err := os.Create(p.mem)
	if err != nil {
		fmt.Fprintf(stderr, "metrod: --memprofile: %v\n", err)
		return
	}
	defer f.Close()
	runtime.GC() // the heap profile shows live objects as of the last GC
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		fmt.Fprintf(stderr, "metrod: --memprofile %s: %v\n", p.mem, err)
	}
}

// printVisibleDefaults is fs.PrintDefaults without the hidden flags.
func printVisibleDefaults(fs *flag.FlagSet, w io.Writer) {
	vis := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	vis.SetOutput(w)
	fs.VisitAll(func(f *flag.Flag) {
		if !hiddenFlags[f.Name] {
			vis.Var(f.Value, f.Name, f.Usage)
		}
	})
	vis.PrintDefaults()
}
