package control

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

// FuzzHandle feeds arbitrary request lines to the request decoder and
// dispatcher: it must always produce a well-formed response, never panic,
// and call the Handler only for well-formed requests.
func FuzzHandle(f *testing.F) {
	for _, seed := range []string{
		`{"op":"status"}`,
		`{"op":"command","name":"reload","args":{"peer":"192.0.2.7"}}`,
		`{"op":"command","args":{"a":1}}`,
		`{"op":null}`,
		`{`,
		`"status"`,
	} {
		f.Add([]byte(seed))
	}
	h := &fakeHandler{
		status: func(context.Context) (*Status, error) { return &Status{PID: 1}, nil },
		command: func(_ context.Context, name string, _ map[string]string) (string, error) {
			return "ran " + name, nil
		},
	}
	s := &Server{h: h, log: slog.New(slog.DiscardHandler), handlerTimeout: time.Second}
	f.Fuzz(func(t *testing.T, line []byte) {
		before := h.calls.Load()
		resp := s.handle(context.Background(), line)
		if resp == nil {
			t.Fatal("nil response")
		}
		if resp.OK == (resp.Error != "") {
			t.Fatalf("inconsistent response %+v", resp)
		}
		if _, err := json.Marshal(resp); err != nil {
			t.Fatalf("response does not encode: %v", err)
		}
		var req request
		if json.Unmarshal(line, &req) != nil && h.calls.Load() != before {
			t.Fatalf("handler called for undecodable request %q", line)
		}
	})
}
