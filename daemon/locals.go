package daemon

import (
	"fmt"
	"net/netip"
	"slices"

	"metro/policy"
)

// localAddrs returns this host's addresses as metrod uses them. With the
// memory backend, loopback addresses other than 127.0.0.1 and ::1 count
// too (see policy.LocalAddrsWithLoopback): nothing is installed in the
// kernel, so metrods and load generators may share one host's loopback,
// each on its own address. o.Locals, allowed with the memory backend only,
// narrows the list to the addresses one such metrod owns.
func localAddrs(o Options) ([]netip.Addr, error) {
	if o.Backend != "memory" {
		if len(o.Locals) > 0 {
			return nil, &ConfigError{fmt.Errorf("--local-addrs is for the memory kernel backend only (several metrods on one host's loopback)")}
		}
		return policy.LocalAddrs()
	}
	all, err := policy.LocalAddrsWithLoopback()
	if err != nil || len(o.Locals) == 0 {
		return all, err
	}
	return restrictLocals(all, o.Locals)
}

// restrictLocals returns want, sorted, if every address of it is in have.
func restrictLocals(have, want []netip.Addr) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(want))
	for _, a := range want {
		a = a.Unmap()
		if !slices.Contains(have, a) {
			return nil, &ConfigError{fmt.Errorf("--local-addrs: %s is not an address of this host (have: %s)", a, addrList(have))}
		}
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}
