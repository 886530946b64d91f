// Package vmtest boots a throwaway Linux VM under qemu and runs a command in
// it. It exists because metro's real tests need kernel ESP (esp4, esp6,
// xfrm_user), which CI hosts often lack or cannot load.
//
// The VM boots a Debian kernel fetched by scripts/vm-kernel.sh into a cache
// directory. A small busybox initramfs loads the 9p, virtio and overlay
// modules, mounts the host's root file system read-only over 9p, puts a
// tmpfs overlay on top so the guest can write anywhere, binds the extracted
// kernel's modules onto /lib/modules and switches into that root. The guest
// therefore sees the host's binaries (ip, busybox, the freshly built project
// binaries and test executables) at their usual paths.
//
// Inside, the guest mounts proc, sys, devtmpfs, and fresh tmpfs file systems
// on /run and /tmp (so host files under /tmp are NOT visible, unless
// Options.HostTmp), loads the
// IPsec modules (a missing required module fails the run), and mounts a
// writable 9p share of the host's results directory at the same path it has
// on the host. It then runs the command with METRO_VM=1 and
// METRO_VM_RESULTS=<results dir> in the environment, records its exit code in
// the results directory and powers off. The VM has no network interface.
package vmtest
