// Package policy owns metro's configuration (flags, environment,
// config.env), the list of peers derived from it and from the credentials,
// and which traffic is protected.
//
// Configuration variables are described by the table returned by Variables;
// Load resolves each one from, in order of precedence, command-line flags,
// the environment, the config file (see ParseEnvFile for its syntax) and
// the default. LocalAddrs reads this host's addresses from the kernel and
// PSKPeers pairs them with the addresses of the pre-shared key files.
package policy
