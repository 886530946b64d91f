package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
)

func TestSecretNeverPrinted(t *testing.T) {
	const key = "hunter2-KEYMATERIAL"
	f := &PSKFile{Path: "/etc/metro/a.psk", Addrs: addrs("10.0.0.1", "2001:db8::1"), Key: Secret(key)}
	hexKey := fmt.Sprintf("%x", []byte(key))

	check := func(what, out string) {
		t.Helper()
		if strings.Contains(out, key) || strings.Contains(out, hexKey) || strings.Contains(out, "104 117 110") {
			t.Errorf("%s discloses the key: %s", what, out)
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		check("Sprintf("+verb+", file)", fmt.Sprintf(verb, f))
		check("Sprintf("+verb+", *file)", fmt.Sprintf(verb, *f))
		check("Sprintf("+verb+", key)", fmt.Sprintf(verb, f.Key))
		check("Sprintf("+verb+", []*PSKFile)", fmt.Sprintf(verb, []*PSKFile{f}))
		check("Sprintf("+verb+", PSKSet)", fmt.Sprintf(verb, PSKSet{Files: []*PSKFile{f}}))
	}
	if got := fmt.Sprintf("%v|%s|%#v", f.Key, f.Key, f.Key); got != "[redacted]|[redacted]|[redacted]" {
		t.Errorf("Secret formats as %q", got)
	}
	if !strings.Contains(fmt.Sprintf("%+v", *f), "/etc/metro/a.psk") {
		t.Errorf("%%+v lost the path: %+v", *f)
	}

	j, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	check("json", string(j))
	if !strings.Contains(string(j), `"Key":"[redacted]"`) {
		t.Errorf("json = %s", j)
	}
	j, _ = json.Marshal(PSKSet{Files: []*PSKFile{f}})
	check("json set", string(j))

	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(h(&buf))
		log.Info("loaded", "psk", f, "key", f.Key, "file", *f, "set", &PSKSet{Files: []*PSKFile{f}})
		log.Info("attr", slog.Any("key", f.Key), slog.Any("raw", []Secret{f.Key}))
		check("slog", buf.String())
		if !strings.Contains(buf.String(), "10.0.0.1") || !strings.Contains(buf.String(), "redacted") {
			t.Errorf("slog output lacks the addresses or the redaction mark: %s", buf.String())
		}
	}
}

func TestSecretWipe(t *testing.T) {
	s := Secret("abc")
	s.Wipe()
	if !bytes.Equal(s, []byte{0, 0, 0}) {
		t.Errorf("after Wipe: %v", []byte(s))
	}
}

var _ = netip.Addr{}
