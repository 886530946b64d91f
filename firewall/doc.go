// Package firewall owns metro's nftables table, "metro" in the inet family.
//
// metrod keeps two kinds of rules there, always rebuilt whole from the
// current configuration and replaced atomically (one nftables batch):
//
//   - alternative ports: UDP datagrams for METRO_ISAKMP_IKE_ALTERNATIVE_PORT
//     and METRO_IPSEC_NAT_TRAVERSAL_ALTERNATIVE_PORT on an address IKE
//     listens on are destination-NATed to the listening ports, so peers can
//     move from one pair of ports to another without an outage;
//   - MSS clamping: the MSS option of TCP SYNs to and from metro peers
//     (locally originated or forwarded, e.g. from containers) is lowered to
//     METRO_MSS, leaving room for the ESP headers.
//
// Nothing outside the metro table is ever touched. The table is removed
// when metrod stops. The Firewall interface has two implementations: NFT,
// the kernel one (github.com/google/nftables, no nft or iptables
// commands), and Memory, for tests.
package firewall
