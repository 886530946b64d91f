# metro build and test entry points. See .ci/run for the CI sequence.
GO ?= go
# Extra flags for the VM runner, e.g. make vmtest VMTEST_FLAGS='-run Smoke -v'
VMTEST_FLAGS ?=

.PHONY: all build test unittest vmtest kernel demo bench clean

all: build

# Static binaries of every command into bin/.
build:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/...

# Host tests, then the kernel tests in the VM.
test: unittest vmtest

unittest:
	$(GO) test ./...

# Fetch (once) and extract the Debian kernel the VM boots.
kernel:
	scripts/vm-kernel.sh

# Boot one VM and run the tests that need kernel ESP; see cmd/metro-vmtest.
vmtest: kernel
	$(GO) run ./cmd/metro-vmtest $(VMTEST_FLAGS)

# Two-host demo: metrod on two network namespaces, SAs up, metroctl status,
# pings proven to be ESP on the wire. Boots the VM when this kernel has no ESP.
demo: build
	scripts/demo

# metrod vs strongSwan's charon as IKE responders on loopback (private
# network namespace), same load generator; see README "Benchmarking and dry
# runs". BENCH_N setups, BENCH_C at once.
bench:
	scripts/bench.sh -o bench/results-$$(date +%F).md

clean:
	rm -rf bin .cache/vmtest
