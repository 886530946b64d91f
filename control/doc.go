// Package control owns the metrod control socket protocol: JSON lines over a
// Unix socket.
//
// metrod serves the socket (Listen, Server.Serve) and answers through a
// Handler; metroctl talks to it with a Client (Dial). Each request is one JSON
// object on one line, and each response is one JSON object on one line:
//
//	{"op":"status"}
//	{"ok":true,"status":{...}}
//
//	{"op":"command","name":"reload","args":{"peer":"192.0.2.7"}}
//	{"ok":true,"output":"..."}
//
//	{"ok":false,"error":"..."}
//
// A connection may carry several requests one after the other. Requests are
// bounded (MaxRequestSize) and a connection that stays silent for too long is
// closed. The socket file is created with mode 0600 (it is bound under a
// temporary name, restricted, then renamed into place), so access is decided
// by the filesystem: root and the daemon's own user.
package control
