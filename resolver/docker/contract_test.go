package docker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/internal/safetext"
)

// clean is this module's copy of the core's internal/safetext.Printable
// (a published module may not import another's internal packages): a
// fixed table, and the core's answers on it.
func TestCleanInStep(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"kafka-3", "kafka-3"},
		{"é ünïcode ✓", "é ünïcode ✓"},
		{"tab\there", `tab\there`},
		{"line\nbreak\r", `line\nbreak\r`},
		{"esc\x1b[31m", `esc\x1b[31m`},
		{"del\x7f", `del\x7f`},
		{"nul\x00", `nul\x00`},
		{"c1\u0085", `c1\u0085`},
		{"ls\u2028ps\u2029", `ls\u2028ps\u2029`},
		{"bad\xffutf8", `bad\xffutf8`},
		{`quote" and \ backslash`, `quote" and \ backslash`},
		{`quote" and \ backslash` + "\n", `quote\" and \\ backslash\n`},
	} {
		if got := clean(c.in); got != c.want {
			t.Errorf("clean(%q) = %q, want %q", c.in, got, c.want)
		}
		if core := safetext.Printable(c.in); core != clean(c.in) {
			t.Errorf("clean(%q) = %q, the core's safetext.Printable %q: bring the copy in step", c.in, clean(c.in), core)
		}
	}
}

// A Container never marshals its environment: it holds secrets.
func TestContainerJSONLeavesEnvOut(t *testing.T) {
	c := Container{ID: "3f2a1c9d4e5b", Name: "kafka-3", Env: []string{"KAFKA_SASL_PASSWORD=hunter2", "KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://kafka-3:9092"}}
	in := kafka3().inspect()
	in.Config.Env = c.Env
	r := offline(hosts{}, false, "")
	r.table.Store(newTable([]*entry{newEntry(in, hosts{})}))
	s := r.Snapshot()
	if len(s.Containers) == 0 || len(s.Containers[0].Env) == 0 {
		t.Fatal("the test container has no environment")
	}
	for _, v := range []any{c, &c, s} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "hunter2") || strings.Contains(string(b), `"env"`) || strings.Contains(string(b), "KAFKA_") {
			t.Errorf("%T marshals the environment: %s", v, b)
		}
	}
}

// The option contract: a nil Option is ignored, WithLogger(nil) discards,
// a bad value is an error naming the option.
func TestOptionContract(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := New(ctx, nil, WithLogger(nil), WithHost("unix://"+sock), nil)
	var ee *EngineError
	if !errors.As(err, &ee) {
		t.Fatalf("New with nil options: %v; want the *EngineError of a missing engine", err)
	}
	if _, err := New(ctx, WithHost(" ")); err == nil || err.Error() != "docker: WithHost: empty engine address" {
		t.Fatalf(`WithHost(" "): %v`, err)
	}
}

// An option given twice with different values is refused by New with an
// error naming it, whatever the order; the same value twice is no
// conflict.
func TestOptionGivenTwice(t *testing.T) {
	sock := "unix://" + filepath.Join(t.TempDir(), "docker.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l := slog.New(slog.DiscardHandler)
	for _, c := range []struct {
		opts []Option
		want string
	}{
		{[]Option{WithHost(" ")}, "docker: WithHost: empty engine address"},
		{[]Option{WithHost(sock), WithHost("tcp://127.0.0.1:1")}, "docker: WithHost given twice with different values: options apply in any order, so give it once"},
		{[]Option{WithHost(sock), WithHost("")}, "docker: WithHost"},
		{[]Option{WithLogger(nil), WithLogger(l)}, "docker: WithLogger given twice with different values"},
		{[]Option{WithLogger(l), WithLogger(slog.Default())}, "docker: WithLogger given twice with different values"},
		{[]Option{withGetenv(os.Getenv), withGetenv(os.Getenv)}, "docker: withGetenv given twice with different values"},
	} {
		for _, opts := range [][]Option{c.opts, reversed(c.opts)} {
			if r, err := New(ctx, opts...); err == nil || !strings.HasPrefix(err.Error(), c.want) {
				if err == nil {
					r.Close()
				}
				t.Errorf("got %v, want an error starting %q", err, c.want)
			}
		}
	}
	// The same value twice is no conflict: New goes on to the (missing)
	// engine.
	_, err := New(ctx, WithHost(sock), WithHost(sock), WithLogger(l), WithLogger(l), WithPublishedOnly(), WithPublishedOnly())
	var ee *EngineError
	if !errors.As(err, &ee) {
		t.Fatalf("the same values twice: %v; want the *EngineError of a missing engine", err)
	}
}

func reversed(opts []Option) []Option {
	out := make([]Option, len(opts))
	for i, o := range opts {
		out[len(opts)-1-i] = o
	}
	return out
}

// ErrClosed matches net.ErrClosed, and a closed resolver answers with it.
func TestErrClosed(t *testing.T) {
	if !errors.Is(ErrClosed, net.ErrClosed) {
		t.Fatal("docker.ErrClosed does not match net.ErrClosed")
	}
	r := offline(hosts{}, false, "", kafka3())
	r.closed.Store(true)
	if _, err := r.Resolve(context.Background(), "kafka-3:9092"); !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Resolve after Close: %v", err)
	}
}
