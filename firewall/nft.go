package firewall

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// NFT is the kernel Firewall: it talks nftables netlink in the network
// namespace of the process.
type NFT struct {
	log *slog.Logger

	mu sync.Mutex
	// alt holds the alternative ports of the last applied ruleset, whose
	// conntrack entries are flushed when they are no longer redirected.
	alt []uint16
}

// NewNFT returns the kernel firewall. It checks that nftables answers.
func NewNFT(log *slog.Logger) (*NFT, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("firewall: nftables: %w", err)
	}
	if _, err := c.ListTablesOfFamily(nftables.TableFamilyINet); err != nil {
		return nil, fmt.Errorf("firewall: listing nftables tables: %w", err)
	}
	return &NFT{log: log}, nil
}

var table = &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}

// Apply implements Firewall.
func (f *NFT) Apply(r Ruleset) error {
	if err := r.Check(); err != nil {
		return err
	}
	if r.Empty() {
		return f.Remove()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("firewall: nftables: %w", err)
	}
	// add + delete + add in one batch: replaces a table that may or may
	// not exist, atomically.
	c.AddTable(table)
	c.DelTable(table)
	c.AddTable(table)
	if err := build(c, r); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("firewall: installing nftables table inet %s: %w", TableName, err)
	}
	// Connections tracked before the redirect existed (or, for ports no
	// longer redirected, still NATed) would bypass the new rules.
	f.flushConntrack(append(slices.Clone(f.alt), r.altPorts()...))
	f.alt = r.altPorts()
	f.log.Info("firewall: nftables table installed", "table", "inet "+TableName,
		"redirects", len(r.Redirects), "mss", r.MSS, "peers", len(r.Peers))
	return nil
}

// Remove implements Firewall.
func (f *NFT) Remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("firewall: nftables: %w", err)
	}
	c.AddTable(table)
	c.DelTable(table)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("firewall: removing nftables table inet %s: %w", TableName, err)
	}
	f.flushConntrack(f.alt)
	f.alt = nil
	return nil
}

// build queues metro's sets, chains and rules on c.
func build(c *nftables.Conn, r Ruleset) error {
	if len(r.Redirects) > 0 {
		ch := c.AddChain(&nftables.Chain{
			Name: ChainAltPorts, Table: table, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest,
		})
		for _, d := range r.Redirects {
			c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: redirectExprs(d)})
		}
	}
	if r.MSS == 0 || len(r.Peers) == 0 {
		return nil
	}
	sets := map[bool]*nftables.Set{
		false: {Table: table, Name: SetPeers4, KeyType: nftables.TypeIPAddr},
		true:  {Table: table, Name: SetPeers6, KeyType: nftables.TypeIP6Addr},
	}
	elems := map[bool][]nftables.SetElement{}
	for _, p := range r.Peers {
		p = p.Unmap()
		elems[p.Is6()] = append(elems[p.Is6()], nftables.SetElement{Key: p.AsSlice()})
	}
	for _, v6 := range []bool{false, true} {
		if len(elems[v6]) == 0 {
			continue
		}
		if err := c.AddSet(sets[v6], elems[v6]); err != nil {
			return fmt.Errorf("firewall: set %s: %w", sets[v6].Name, err)
		}
	}
	for _, dir := range []struct {
		name string
		hook *nftables.ChainHook
		src  bool // match the peer as the source (else destination)
	}{
		{ChainMSSFromPeer, nftables.ChainHookPrerouting, true},
		{ChainMSSToPeer, nftables.ChainHookPostrouting, false},
	} {
		ch := c.AddChain(&nftables.Chain{
			Name: dir.name, Table: table, Type: nftables.ChainTypeFilter,
			Hooknum: dir.hook, Priority: nftables.ChainPriorityMangle,
		})
		for _, v6 := range []bool{false, true} {
			if len(elems[v6]) == 0 {
				continue
			}
			c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: mssExprs(sets[v6], v6, dir.src, r.MSS)})
		}
	}
	return nil
}

// Offsets into the IPv4, IPv6 and TCP/UDP headers.
const (
	ip4Saddr, ip4Daddr = 12, 16
	ip6Saddr, ip6Daddr = 8, 24
	l4Dport            = 2
	tcpFlags           = 13
	tcpFlagSYN         = 0x02
	tcpOptMaxseg       = 2 // TCP option kind: maximum segment size
)

// matchFamily loads nfproto and compares it with the address family.
func matchFamily(v6 bool) []expr.Any {
	fam := byte(unix.NFPROTO_IPV4)
	if v6 {
		fam = unix.NFPROTO_IPV6
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{fam}},
	}
}

// addrOffset is the offset and length of the source or destination address.
func addrOffset(v6, src bool) (off, n uint32) {
	switch {
	case v6 && src:
		return ip6Saddr, 16
	case v6:
		return ip6Daddr, 16
	case src:
		return ip4Saddr, 4
	}
	return ip4Daddr, 4
}

// redirectExprs is
//
//	meta nfproto ipv4 ip daddr LOCAL udp dport FROM counter dnat ip to LOCAL:TO
func redirectExprs(d Redirect) []expr.Any {
	local := d.Local.Unmap()
	v6 := local.Is6()
	off, n := addrOffset(v6, false)
	fam := uint32(unix.NFPROTO_IPV4)
	if v6 {
		fam = unix.NFPROTO_IPV6
	}
	e := matchFamily(v6)
	e = append(e,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: local.AsSlice()},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: l4Dport, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(d.From)},
		&expr.Counter{},
		&expr.Immediate{Register: 1, Data: local.AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(d.To)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: fam, RegAddrMin: 1, RegProtoMin: 2},
	)
	return e
}

// mssExprs is
//
//	meta nfproto ipv4 ip saddr|daddr @peers4 meta l4proto tcp
//	tcp flags & syn == syn tcp option maxseg size > MSS
//	counter tcp option maxseg size set MSS
//
// The kernel copies the source register into the option as is, so the
// value must be in network byte order. nft itself converts a constant when
// it compiles the rule (and emits a byteorder hton expression only for
// run-time values such as rt mtu); so does this function, with
// binary.BigEndian, which keeps the rule readable in `nft list`.
func mssExprs(set *nftables.Set, v6, src bool, mss int) []expr.Any {
	off, n := addrOffset(v6, src)
	e := matchFamily(v6)
	e = append(e,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: tcpFlags, Len: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{tcpFlagSYN}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0}},
		&expr.Exthdr{Op: expr.ExthdrOpTcpopt, Type: tcpOptMaxseg, Offset: 2, Len: 2, DestRegister: 1},
		&expr.Cmp{Op: expr.CmpOpGt, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(mss))},
		&expr.Counter{},
		&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(mss))},
		&expr.Exthdr{Op: expr.ExthdrOpTcpopt, Type: tcpOptMaxseg, Offset: 2, Len: 2, SourceRegister: 1},
	)
	return e
}

// Installed reports whether metro's table exists.
func (f *NFT) Installed() (bool, error) {
	c, err := nftables.New()
	if err != nil {
		return false, err
	}
	_, err = c.ListTableOfFamily(TableName, nftables.TableFamilyINet)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	return err == nil, err
}

var _ Firewall = (*NFT)(nil)
