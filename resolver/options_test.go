package resolver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every order of the same options builds a resolver that answers alike.
func TestOptionOrderDoesNotMatter(t *testing.T) {
	opts := []Option{
		WithZone("kafka-1.corp A 127.0.0.11\nkafka-2 A 127.0.0.12\n"),
		WithSearch("corp."),
		WithTimeout(3 * time.Second),
		WithCacheSize(10),
		WithLogger(nil),
		nil,
	}
	var rec func(k int)
	var want map[string]string
	n := 0
	rec = func(k int) {
		if k < len(opts) {
			for i := k; i < len(opts); i++ {
				opts[k], opts[i] = opts[i], opts[k]
				rec(k + 1)
				opts[k], opts[i] = opts[i], opts[k]
			}
			return
		}
		n++
		r, err := New(opts...)
		if err != nil {
			t.Fatalf("order %d: %v", n, err)
		}
		got := map[string]string{}
		for _, hp := range []string{"kafka-1:9092", "kafka-2:9092", "kafka-3:9092"} {
			c, err := r.Resolve(context.Background(), hp)
			got[hp] = strings.Join(c, ",")
			if err != nil {
				got[hp] = "error"
			}
		}
		if r.timeout != 3*time.Second || r.cache.max != 10 {
			t.Fatalf("order %d: timeout %s cache %d", n, r.timeout, r.cache.max)
		}
		if want == nil {
			want = got
			if got["kafka-1:9092"] != "127.0.0.11:9092" || got["kafka-2:9092"] != "127.0.0.12:9092" || got["kafka-3:9092"] != "error" {
				t.Fatalf("answers %v", got)
			}
			return
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("order %d: %s = %s, want %s", n, k, got[k], v)
			}
		}
	}
	rec(0)
	if n != 720 {
		t.Fatalf("%d orders", n)
	}
}

// Errors name the option; a single-valued option given twice with
// different values is refused in either order.
func TestOptionErrorsNameTheOption(t *testing.T) {
	for _, c := range []struct {
		opts []Option
		want string
	}{
		{[]Option{WithTimeout(0)}, "resolver: WithTimeout: duration 0s is not positive"},
		{[]Option{WithCacheSize(0)}, "resolver: WithCacheSize: size 0 is below 1"},
		{[]Option{WithSearch(".")}, "resolver: WithSearch: bad domain"},
		{[]Option{WithForward("corp.", "dns.example")}, `resolver: WithForward("corp.")`},
		{[]Option{WithTimeout(time.Second), WithTimeout(2 * time.Second)}, "resolver: WithTimeout given twice with different values"},
		{[]Option{WithCacheSize(1), WithCacheSize(2)}, "resolver: WithCacheSize given twice"},
		{[]Option{WithLogger(nil), WithLogger(slog.Default())}, "resolver: WithLogger given twice"},
	} {
		for _, opts := range [][]Option{c.opts, {c.opts[len(c.opts)-1], c.opts[0]}} {
			if _, err := New(opts...); err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("New = %v, want an error starting %q", err, c.want)
			}
		}
	}
	if _, err := New(WithTimeout(time.Second), WithTimeout(time.Second), WithLogger(nil), WithLogger(nil)); err != nil {
		t.Errorf("the same value twice: %v", err)
	}
}

// WithTimeout bounds a whole lookup, whichever of it and the caller's
// context ends first, and the error names the upstream that did not answer.
func TestWithTimeoutBoundsLookup(t *testing.T) {
	silent := silentUDP(t)
	const short, long = 300 * time.Millisecond, 30 * time.Second
	for _, c := range []struct {
		name        string
		timeout     time.Duration
		ctxTimeout  time.Duration
		lookupHost  bool
		wantContext bool // the caller's deadline is what ended it
	}{
		{"resolver bound first", short, long, false, false},
		{"context first", long, short, false, true},
		{"resolver bound first, LookupHost", short, long, true, false},
		{"context first, LookupHost", long, short, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := New(WithForward("corp.", silent), WithSearch("corp.", "other.corp."), WithTimeout(c.timeout))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), c.ctxTimeout)
			defer cancel()
			start := time.Now()
			if c.lookupHost {
				_, err = r.LookupHost(ctx, "kafka-1")
			} else {
				_, err = r.Resolve(ctx, "kafka-1:9092")
			}
			elapsed := time.Since(start)
			// Two search domains and three questions each: bounded as one
			// lookup, not one bound per question.
			if elapsed < short*8/10 || elapsed > 3*short {
				t.Errorf("lookup took %s; want about %s", elapsed, short)
			}
			var de *net.DNSError
			if !errors.As(err, &de) || !de.IsTimeout || de.IsNotFound || !strings.Contains(err.Error(), silent) {
				t.Fatalf("lookup = %v; want a timeout *net.DNSError naming %s", err, silent)
			}
			if c.wantContext && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("lookup = %v; want it to wrap the context's deadline", err)
			}
		})
	}
	// Cancelling ends it at once.
	r, err := New(WithForward("corp.", silent), WithTimeout(long))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Resolve(ctx, "kafka-1.corp:9092"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Resolve with a cancelled context = %v", err)
	}
}

// A server that does not answer costs one share of one lookup: the server
// that answered is asked first from then on, so later lookups do not wait
// for the silent one again.
func TestForwardAsksLastAnsweringServerFirst(t *testing.T) {
	dm := startDnsmasq(t, "--host-record=kafka-1.corp,127.0.0.11", "--host-record=kafka-2.corp,127.0.0.12")
	silent := silentUDP(t)
	const timeout = 2 * time.Second
	r, err := New(WithForward("corp.", silent), WithForward("corp.", dm.Addr), WithTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := r.Resolve(context.Background(), "kafka-1.corp:9092")
	if err != nil || !slices.Equal(got, []string{"127.0.0.11:9092"}) {
		t.Fatalf("Resolve(kafka-1) = %q, %v", got, err)
	}
	if elapsed := time.Since(start); elapsed > timeout {
		t.Fatalf("first lookup took %s, over its %s bound", elapsed, timeout)
	}
	start = time.Now()
	got, err = r.Resolve(context.Background(), "kafka-2.corp:9092")
	if err != nil || !slices.Equal(got, []string{"127.0.0.12:9092"}) {
		t.Fatalf("Resolve(kafka-2) = %q, %v", got, err)
	}
	// Without the preference, the silent server would take half of each
	// question's time first: about 3s here.
	if elapsed := time.Since(start); elapsed > timeout/2 {
		t.Fatalf("second lookup took %s: the silent server was asked first again", elapsed)
	}
}
