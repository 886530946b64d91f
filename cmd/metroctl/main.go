// Command metroctl controls metrod, the metro IKEv2/IPsec daemon, through
// its control socket.
//
// Usage:
//
//	metroctl [--socket PATH] COMMAND [ARGS]
//
// Exit status: 0 on success, 1 on error, 2 on a usage error, 3 when metrod
// is not running.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
