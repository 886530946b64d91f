// Package systemd holds metro's systemd unit, metrod.service, and the test
// that checks it with systemd-analyze verify. It has no Go API.
package systemd
