package dialer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/hop/ssh"
	"github.com/kafkadial/kafkadial/internal/testnet"
)

// permutations calls f with every order of opts.
func permutations(opts []Option, f func([]Option)) {
	var rec func(k int)
	rec = func(k int) {
		if k == len(opts) {
			f(append([]Option(nil), opts...))
			return
		}
		for i := k; i < len(opts); i++ {
			opts[k], opts[i] = opts[i], opts[k]
			rec(k + 1)
			opts[k], opts[i] = opts[i], opts[k]
		}
	}
	rec(0)
}

// The order of options never matters: every order of the same options
// builds a dialer that routes, dials, refuses and times out alike. (Rule
// sources keep their order among themselves, which is their match order;
// these two match different addresses.)
func TestOptionOrderDoesNotMatter(t *testing.T) {
	echo := echoServer(t, nil)
	env := map[string]string{"KAFKADIAL_RULES": "env-1:9092 => " + echo}
	log := slog.New(slog.DiscardHandler)
	opts := []Option{
		WithGetenv(func(k string) string { return env[k] }),
		WithEnv(),
		WithRules("code-1:9092 => " + echo),
		WithResolver(detailResolver{echo}),
		WithStrict(),
		WithTimeout(3 * time.Second),
		WithLogger(log),
	}
	type result struct {
		rule, target, detail string
		origin               Origin
	}
	var want map[string]result
	n := 0
	permutations(opts, func(order []Option) {
		n++
		d, err := New(order...)
		if err != nil {
			t.Fatalf("order %d: New: %v", n, err)
		}
		defer d.Close()
		got := map[string]result{}
		for _, addr := range []string{"env-1:9092", "code-1:9092", "kafka-2:1", "other:1"} {
			rt, err := d.Route(addr)
			if err != nil {
				t.Fatalf("order %d: Route(%s): %v", n, addr, err)
			}
			got[addr] = result{rt.Rule, rt.Target, rt.Detail, rt.Origin}
		}
		if d.timeout != 3*time.Second || !d.strict || d.log != log || len(d.resolvers) != 1 {
			t.Fatalf("order %d: timeout %s strict %v logger %p resolvers %d", n, d.timeout, d.strict, d.log, len(d.resolvers))
		}
		if want == nil {
			want = got
			if got["env-1:9092"].rule != "KAFKADIAL_RULES:1" || got["code-1:9092"].rule != "rules:1" ||
				got["kafka-2:1"].origin != OriginResolver || got["other:1"].origin != OriginNone {
				t.Fatalf("routes %+v", got)
			}
		} else if len(got) != len(want) {
			t.Fatalf("order %d: routes %+v, want %+v", n, got, want)
		} else {
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("order %d: Route(%s) = %+v, want %+v as in the first order", n, k, got[k], v)
				}
			}
		}
		// Strict refuses what nothing knows; the env rule dials, in every
		// order (WithGetenv applies to WithEnv before or after it).
		if _, err := d.Dial("tcp", "other:1"); !errors.Is(err, ErrNoRoute) {
			t.Fatalf("order %d: dial other:1 = %v, want ErrNoRoute", n, err)
		}
		c, err := d.Dial("tcp", "env-1:9092")
		if err != nil {
			t.Fatalf("order %d: dial env-1: %v", n, err)
		}
		c.Close()
	})
	if n != 5040 {
		t.Fatalf("%d orders tried", n)
	}
}

func TestWithGetenvAfterWithEnv(t *testing.T) {
	getenv := func(k string) string {
		if k == "KAFKADIAL_RULES" {
			return "a:1 => 127.0.0.1:2"
		}
		return ""
	}
	t.Setenv("KAFKADIAL_RULES", "a:1 => 127.0.0.1:3")
	for _, opts := range [][]Option{
		{WithEnv(), WithGetenv(getenv)},
		{WithGetenv(getenv), WithEnv()},
	} {
		d := mustNew(t, opts...)
		if rt, err := d.Route("a:1"); err != nil || rt.Target != "127.0.0.1:2" || rt.Rule != "KAFKADIAL_RULES:1" {
			t.Errorf("Route(a:1) = %+v, %v; want the rule WithGetenv's function gives", rt, err)
		}
	}
	// Without WithGetenv, the process environment.
	if rt, _ := mustNew(t, WithEnv()).Route("a:1"); rt.Target != "127.0.0.1:3" {
		t.Errorf("Route(a:1) = %+v; want the rule in the environment", rt)
	}
}

// Bad options are refused by New and Check with an error naming the option.
func TestOptionErrorsNameTheOption(t *testing.T) {
	var nd net.Dialer
	for _, c := range []struct {
		opts []Option
		want string
	}{
		{[]Option{WithTimeout(-time.Second)}, "kafkadial: WithTimeout: negative duration -1s"},
		{[]Option{WithForward(nil)}, "kafkadial: WithForward: nil dialer"},
		{[]Option{WithTLS(nil)}, "kafkadial: WithTLS: nil config"},
		{[]Option{WithResolver()}, "kafkadial: WithResolver: no resolver given"},
		{[]Option{WithResolver(detailResolver{}, nil)}, "kafkadial: WithResolver: resolver 2 of 2 is nil"},
		{[]Option{WithVia("bad name", &nd)}, `kafkadial: WithVia: bad hop name "bad name"`},
		{[]Option{WithVia("h", nil)}, `kafkadial: WithVia("h"): nil dialer`},
		{[]Option{WithTimeout(time.Second), WithTimeout(2 * time.Second)}, "kafkadial: WithTimeout given twice with different values"},
		{[]Option{WithTLS(&tls.Config{}), WithTLS(&tls.Config{})}, "kafkadial: WithTLS given twice"},
		{[]Option{WithForward(&nd), WithForward(&net.Dialer{})}, "kafkadial: WithForward given twice"},
		{[]Option{WithLogger(nil), WithLogger(slog.Default())}, "kafkadial: WithLogger given twice"},
		{[]Option{WithGetenv(func(string) string { return "" }), WithGetenv(func(string) string { return "" })}, "kafkadial: WithGetenv given twice"},
		{[]Option{WithVia("h", &nd), WithVia("h", &net.Dialer{})}, `kafkadial: WithVia("h") given twice`},
		{[]Option{WithScheme("corp", ssh.NewBuilder()), WithScheme("CORP", ssh.NewBuilder())}, `kafkadial: WithScheme("corp") given twice`},
		{[]Option{WithScheme("1x", ssh.NewBuilder())}, `kafkadial: WithScheme: bad hop scheme "1x"`},
		{[]Option{WithScheme("corp", nil)}, `kafkadial: WithScheme("corp"): nil builder`},
		{[]Option{WithSSHConfig("a"), WithSSHConfig("b")}, "kafkadial: WithSSHConfig given twice"},
	} {
		for name, build := range map[string]func(...Option) error{
			"New":   func(o ...Option) error { _, err := New(o...); return err },
			"Check": func(o ...Option) error { _, err := Check(o...); return err },
		} {
			// Either order gives the error.
			for _, opts := range [][]Option{c.opts, reversed(c.opts)} {
				if err := build(opts...); err == nil || !strings.HasPrefix(err.Error(), c.want) {
					t.Errorf("%s: error %v, want one starting %q", name, err, c.want)
				}
			}
		}
	}
	// The same value twice is no conflict.
	tc := &tls.Config{}
	sb := ssh.NewBuilder()
	defer sb.Close()
	mustNew(t, WithTimeout(time.Second), WithTimeout(time.Second), WithTLS(tc), WithTLS(tc),
		WithForward(&nd), WithForward(&nd), WithVia("h", &nd), WithVia("h", &nd), WithStrict(), WithStrict(),
		WithScheme("corp", sb), WithScheme("Corp", sb), WithSSHConfig(""), WithSSHConfig(""))
}

func reversed(opts []Option) []Option {
	out := make([]Option, len(opts))
	for i, o := range opts {
		out[len(opts)-1-i] = o
	}
	return out
}

func TestNilOptionIgnored(t *testing.T) {
	echo := echoServer(t, nil)
	d := mustNew(t, nil, WithRules("a:1 => "+echo), nil)
	c, err := d.Dial("tcp", "a:1")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := Check(nil); err != nil {
		t.Fatalf("Check(nil): %v", err)
	}
}

// WithLogger(nil) discards, as no WithLogger does: dials that log at every
// level still work.
func TestWithLoggerNilDiscards(t *testing.T) {
	d := mustNew(t, WithLogger(nil), WithRules("a:1 => "+testnet.ClosedAddr(t)))
	if _, err := d.Dial("tcp", "a:1"); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
	if d.log == nil || d.log.Enabled(context.Background(), slog.LevelError) {
		t.Fatalf("logger %v: want one that discards", d.log)
	}
}

// ErrClosed is also net.ErrClosed, for code that checks only that; its
// message stays.
func TestErrClosedMatchesNetErrClosed(t *testing.T) {
	d := mustNew(t)
	d.Close()
	_, err := d.DialContext(context.Background(), "tcp", "kafka-1:9092")
	var oe *net.OpError
	if !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) || !errors.As(err, &oe) || oe.Op != "dial" {
		t.Fatalf("dial after Close = %v; want a dial *net.OpError matching ErrClosed and net.ErrClosed", err)
	}
	if err.Error() != "dial tcp kafka-1:9092: kafkadial: dialer closed" {
		t.Errorf("message %q", err)
	}
	// Matching is one way: another closed error (net's own) is not the
	// dialer's.
	other := fmt.Errorf("use of closed connection: %w", net.ErrClosed)
	if errors.Is(ErrNoRoute, net.ErrClosed) || errors.Is(other, ErrClosed) {
		t.Error("ErrClosed matches too much")
	}
}

// blockingResolver answers only when its context ends, with the context's
// error: an upstream that never replies.
type blockingResolver struct{}

func (blockingResolver) Resolve(ctx context.Context, _ string) ([]string, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// WithTimeout bounds the dial and RouteContext's lookup, whichever of it and
// the caller's context ends first.
func TestWithTimeoutWhicheverEndsFirst(t *testing.T) {
	silent := testnet.Listen(t, testnet.Silent)
	const short, long = 150 * time.Millisecond, 20 * time.Second
	for _, c := range []struct {
		name          string
		dialerTimeout time.Duration
		ctxTimeout    time.Duration
		dialerExpired bool
	}{
		{"dialer first", short, long, true},
		{"context first", long, short, false},
		{"no dialer bound", 0, short, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := mustNew(t, WithTimeout(c.dialerTimeout), WithTLS(&tls.Config{}),
				WithRules("kafka-1:29092 => "+silent), WithResolver(blockingResolver{}))
			ctx, cancel := context.WithTimeout(context.Background(), c.ctxTimeout)
			defer cancel()
			start := time.Now()
			_, err := d.DialContext(ctx, "tcp", "kafka-1:29092")
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Fatalf("dial took %s, bounds %s and %s", elapsed, c.dialerTimeout, c.ctxTimeout)
			}
			var de *DialError
			if !errors.As(err, &de) || !de.Timeout() {
				t.Fatalf("dial = %v; want a timeout *DialError", err)
			}
			if (de.DialerTimeout > 0) != c.dialerExpired || strings.Contains(err.Error(), "dialer timeout") != c.dialerExpired {
				t.Errorf("dial = %v (DialerTimeout %s); dialer's bound expired: %v", err, de.DialerTimeout, c.dialerExpired)
			}
			// A client that retries on Temporary (kafka-go's Writer, through
			// *net.OpError.Temporary) still sees a timeout as temporary.
			var tmp interface{ Temporary() bool }
			if !errors.As(err, &tmp) || !tmp.Temporary() {
				t.Errorf("dial = %v: not Temporary", err)
			}

			// RouteContext's lookup of a name no rule matches.
			start = time.Now()
			_, err = d.RouteContext(ctx, "unknown:1")
			if elapsed := time.Since(start); elapsed > 5*time.Second || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("RouteContext = %v after %s; want the lookup cut at the first bound", err, elapsed)
			}
		})
	}
	// Cancelling the context ends the lookup too.
	d := mustNew(t, WithTimeout(long), WithResolver(blockingResolver{}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.RouteContext(ctx, "unknown:1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("RouteContext with a cancelled context = %v", err)
	}
}
