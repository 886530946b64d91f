// Package e2e is the toolkit for metro's scenario tests. They run inside the
// VM test bed (see metro/vmtest and cmd/metro-vmtest), where the kernel has
// ESP, and skip anywhere else: every scenario starts with RequireVM.
//
// A scenario builds hosts as network namespaces joined by a veth pair
// (NewPair), runs commands and daemons inside them (Host.Run, Host.Start),
// checks reachability (Host.Ping) and captures the link (Host.Capture) to
// prove that traffic between the hosts is ESP and never cleartext.
// Artifacts (process logs, .pcap files) go to OutDir, which inside the VM
// lies in the results directory shared with the host.
package e2e
