package vmtest

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const testModulesDep = `kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/fs/netfs/netfs.ko:
kernel/net/9p/9pnet.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/net/veth.ko:
kernel/net/ipv4/esp4.ko: kernel/net/xfrm/xfrm_algo.ko
kernel/net/xfrm/xfrm_algo.ko:
kernel/crypto/crypto-user.ko:
`

func testIndex(t *testing.T) *moduleIndex {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(testModulesDep), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte("kernel/fs/overlayfs/overlay.ko\nkernel/net/packet/af_packet.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	idx, err := loadModuleIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func TestLoadOrder(t *testing.T) {
	idx := testIndex(t)
	got, err := idx.loadOrder("9pnet_virtio", "9p", "overlay", "esp4", "crypto_user")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"kernel/net/9p/9pnet.ko",
		"kernel/drivers/virtio/virtio.ko",
		"kernel/drivers/virtio/virtio_ring.ko",
		"kernel/net/9p/9pnet_virtio.ko",
		"kernel/fs/netfs/netfs.ko",
		"kernel/fs/fscache/fscache.ko",
		"kernel/fs/9p/9p.ko",
		"kernel/net/xfrm/xfrm_algo.ko",
		"kernel/net/ipv4/esp4.ko",
		"kernel/crypto/crypto-user.ko",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("loadOrder =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Every module must come after all of its dependencies.
	pos := map[string]int{}
	for i, m := range got {
		pos[m] = i
	}
	for _, m := range got {
		for _, d := range idx.deps[m] {
			if pos[d] > pos[m] {
				t.Errorf("%s loaded before its dependency %s", m, d)
			}
		}
	}
}

func TestLoadOrderErrors(t *testing.T) {
	idx := testIndex(t)
	if _, err := idx.loadOrder("esp6"); err == nil || !strings.Contains(err.Error(), `"esp6"`) {
		t.Errorf("unknown module: err = %v, want one naming esp6", err)
	}
	if got, err := idx.loadOrder("af_packet"); err != nil || len(got) != 0 {
		t.Errorf("builtin module: got %v, %v; want nothing to load", got, err)
	}
	idx.deps["kernel/a.ko"] = []string{"kernel/missing.ko"}
	idx.byName["a"] = "kernel/a.ko"
	if _, err := idx.loadOrder("a"); err == nil || !strings.Contains(err.Error(), "kernel/missing.ko") {
		t.Errorf("dangling dependency: err = %v", err)
	}
	idx.deps["kernel/b.ko"] = []string{"kernel/c.ko"}
	idx.deps["kernel/c.ko"] = []string{"kernel/b.ko"}
	idx.byName["b"] = "kernel/b.ko"
	if _, err := idx.loadOrder("b"); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: err = %v", err)
	}
}

func TestParseDepError(t *testing.T) {
	idx := &moduleIndex{deps: map[string][]string{}, byName: map[string]string{}}
	err := idx.parseDep(strings.NewReader("kernel/a.ko:\nbroken line\n"), "modules.dep")
	if err == nil || !strings.Contains(err.Error(), "modules.dep:2") {
		t.Fatalf("err = %v, want one naming modules.dep:2", err)
	}
}
