// Package daemon wires metrod together: it loads the configuration and
// credentials, takes over the kernel state a previous metrod left, opens the
// IKE sockets, runs the ike.Node with every peer, and serves the control
// socket. cmd/metrod only parses flags and maps errors to exit codes.
package daemon
