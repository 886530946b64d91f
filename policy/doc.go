// Package policy owns metro's configuration (flags, environment,
// config.env), the list of peers derived from it and from the credentials,
// and which traffic is protected.
package policy
