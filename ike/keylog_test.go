package ike

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"metro/ike/ikecrypto"
)

// lockedBuffer is a key log sink shared by a test host's peers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// uatFields splits a Wireshark table record into its fields, unquoting
// the quoted ones.
func uatFields(t *testing.T, line string) []string {
	t.Helper()
	var out []string
	for _, f := range strings.Split(line, ",") {
		if strings.HasPrefix(f, `"`) {
			if len(f) < 2 || !strings.HasSuffix(f, `"`) {
				t.Fatalf("bad quoted field %q in %q", f, line)
			}
			f = f[1 : len(f)-1]
		}
		out = append(out, f)
	}
	return out
}

func TestKeyLogRecordsMatchTheKernelAndThePeer(t *testing.T) {
	cases := []struct {
		ike, esp           string
		ikeEncr, ikeInteg  string
		espEncr, espInteg  string
		ikeKeyLen, espKeyN int
	}{
		{"aes256gcm16-prfsha384-ecp256", "aes128gcm16",
			"AES-GCM-256 with 16 octet ICV [RFC5282]", "NONE [RFC4306]",
			"AES-GCM with 16 octet ICV [RFC4106]", "NULL", 36, 20},
		{"aes128-sha512-x25519", "aes256-sha384",
			"AES-CBC-128 [RFC3602]", "HMAC_SHA2_512_256 [RFC4868]",
			"AES-CBC [RFC3602]", "HMAC-SHA-384-192 [RFC4868]", 16, 32},
	}
	for _, c := range cases {
		t.Run(c.ike+"/"+c.esp, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				ikeP, err := ikecrypto.ParseProposals(c.ike, false)
				if err != nil {
					t.Fatal(err)
				}
				espP, err := ikecrypto.ParseProposals(c.esp, true)
				if err != nil {
					t.Fatal(err)
				}
				net := &memNet{}
				var la, lb lockedBuffer
				a := newHost(t, net, "10.0.0.1", Config{IKEProposals: ikeP, ESPProposals: espP, KeyLog: NewWiresharkKeyLog(&la)})
				b := newHost(t, net, "10.0.0.2", Config{IKEProposals: ikeP, ESPProposals: espP, KeyLog: NewWiresharkKeyLog(&lb)})
				connect(t, ctx, a, b, "k", "k")
				pa := waitState(t, a, StateEstablished)
				waitState(t, b, StateEstablished)
				synctest.Wait()

				for _, h := range []struct {
					host *testHost
					log  string
				}{{a, la.String()}, {b, lb.String()}} {
					var ike, esp [][]string
					for _, line := range strings.Split(strings.TrimSpace(h.log), "\n") {
						f := uatFields(t, line)
						if f[0] == "IPv4" {
							esp = append(esp, f)
						} else {
							ike = append(ike, f)
						}
					}
					// The established IKE SA is logged (a crossed
					// initiation may add a half-open one).
					found := false
					for _, f := range ike {
						if len(f) != 8 {
							t.Fatalf("%s: IKE record has %d fields: %q", h.host.addr, len(f), f)
						}
						if f[0] != fmt.Sprintf("%016x", pa.IKE.SPIi) || f[1] != fmt.Sprintf("%016x", pa.IKE.SPIr) {
							continue
						}
						found = true
						if f[4] != c.ikeEncr || f[7] != c.ikeInteg {
							t.Errorf("%s: IKE algorithms %q, %q; want %q, %q", h.host.addr, f[4], f[7], c.ikeEncr, c.ikeInteg)
						}
						if len(f[2]) != 2*c.ikeKeyLen || len(f[3]) != 2*c.ikeKeyLen || f[2] == f[3] {
							t.Errorf("%s: SK_ei/SK_er %d/%d hex digits, want %d each, distinct", h.host.addr, len(f[2]), len(f[3]), 2*c.ikeKeyLen)
						}
					}
					if !found {
						t.Errorf("%s: no key log record for IKE SA %s/%s:\n%s", h.host.addr, fmt.Sprintf("%016x", pa.IKE.SPIi), fmt.Sprintf("%016x", pa.IKE.SPIr), h.log)
					}
					// Each ESP record carries exactly the kernel's key.
					states, _ := h.host.kernel.SAs()
					if len(esp) != len(states) || len(esp) != 2 {
						t.Fatalf("%s: %d ESP records for %d kernel states, want 2", h.host.addr, len(esp), len(states))
					}
					for _, f := range esp {
						if len(f) != 8 || f[4] != c.espEncr || f[6] != c.espInteg {
							t.Fatalf("%s: ESP record %q, want 8 fields with %q and %q", h.host.addr, f, c.espEncr, c.espInteg)
						}
						matched := false
						for _, st := range states {
							if f[1] != st.Src.String() || f[2] != st.Dst.String() || f[3] != fmt.Sprintf("0x%08x", st.SPI) {
								continue
							}
							matched = true
							key := st.AEAD
							if key == nil {
								key = st.Crypt
								if want := "0x" + hex.EncodeToString(st.Auth.Key); f[7] != want {
									t.Errorf("%s: ESP %s integrity key differs from the kernel's", h.host.addr, f[3])
								}
							}
							if want := "0x" + hex.EncodeToString(key.Key); f[5] != want || len(key.Key) != c.espKeyN {
								t.Errorf("%s: ESP %s key differs from the kernel's or has the wrong length", h.host.addr, f[3])
							}
						}
						if !matched {
							t.Errorf("%s: ESP record %q names no kernel state", h.host.addr, f[:4])
						}
					}
				}
				// Both hosts log the same IKE keys for the shared SA.
				if !strings.Contains(lb.String(), fmt.Sprintf("%016x", pa.IKE.SPIi)+","+fmt.Sprintf("%016x", pa.IKE.SPIr)) {
					t.Errorf("host b did not log the shared IKE SA")
				}
				finish(cancel, a, b)
			})
		})
	}
}

func TestKeyLogChaChaIsACommentWithoutKeys(t *testing.T) {
	var buf lockedBuffer
	l := NewWiresharkKeyLog(&buf)
	cc := ikecrypto.EncrByID(28, 0) // ENCR_CHACHA20_POLY1305
	if cc == nil {
		t.Fatal("no chacha20poly1305")
	}
	key := bytes.Repeat([]byte{0xab}, cc.KeyLen)
	l.IKESA(IKESAKeys{SPIi: 1, SPIr: 2, Encr: cc, SKei: key, SKer: key})
	l.ESPSA(ESPSAKeys{SPI: 7, Encr: cc, EncrKey: key})
	out := buf.String()
	if strings.Count(out, "\n") != 2 || strings.Count(out, "# ") != 2 || strings.Contains(out, "abab") {
		t.Errorf("ChaCha20 records should be two key-free comments:\n%s", out)
	}
	if l.Err() != nil {
		t.Fatal(l.Err())
	}
}
