package dialer

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
)

// tableResolver knows the names in its table, says so as its detail, and
// counts the questions it gets.
type tableResolver struct {
	name  string
	table map[string][]string
	fail  map[string]error
	asked atomic.Int32
}

func (r *tableResolver) Resolve(ctx context.Context, hostport string) ([]string, error) {
	t, _, err := r.ResolveDetail(ctx, hostport)
	return t, err
}

func (r *tableResolver) ResolveDetail(_ context.Context, hostport string) ([]string, string, error) {
	r.asked.Add(1)
	if err := r.fail[hostport]; err != nil {
		return nil, r.name, err
	}
	if t, ok := r.table[hostport]; ok {
		return t, r.name + " knows " + hostport, nil
	}
	return nil, "", &net.DNSError{Err: "not in " + r.name, Name: hostport, IsNotFound: true}
}

// plainResolver is a Resolver without ResolveDetail.
type plainResolver struct{ table map[string][]string }

func (r plainResolver) Resolve(_ context.Context, hostport string) ([]string, error) {
	if t, ok := r.table[hostport]; ok {
		return t, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: hostport, IsNotFound: true}
}

// Several resolvers are asked in order: the first that knows an address
// answers, with its detail; a failure other than not-found is final; what
// none knows is dialled as asked, or refused under WithStrict.
func TestResolversChained(t *testing.T) {
	echo1, echo2 := echoServer(t, nil), echoServer(t, nil)
	first := &tableResolver{name: "zone", table: map[string][]string{"kafka-1:9092": {echo1}}, fail: map[string]error{"kafka-bad:9092": errors.New("upstream timed out")}}
	second := &tableResolver{name: "docker", table: map[string][]string{"kafka-1:9092": {echo2}, "kafka-2:9092": {echo2}, "kafka-bad:9092": {echo2}}}
	third := plainResolver{table: map[string][]string{"kafka-3:9092": {echo1}}}
	direct := echoServer(t, nil)

	// One WithResolver with several, and several WithResolver, are the same.
	for name, opts := range map[string][]Option{
		"one option":  {WithResolver(first, second, third)},
		"three":       {WithResolver(first), WithResolver(second), WithResolver(third)},
		"two options": {WithResolver(first), WithResolver(second, third)},
	} {
		t.Run(name, func(t *testing.T) {
			d := mustNew(t, opts...)
			for _, c := range []struct {
				addr, target, detail string
				origin               Origin
			}{
				{"kafka-1:9092", echo1, "zone knows kafka-1:9092", OriginResolver},   // the first answers
				{"kafka-2:9092", echo2, "docker knows kafka-2:9092", OriginResolver}, // the first does not know it
				{"kafka-3:9092", echo1, "", OriginResolver},                          // a plain Resolver has no detail
				{direct, direct, "", OriginNone},                                     // none knows it
			} {
				rt, err := d.Route(c.addr)
				if err != nil || rt.Target != c.target || rt.Detail != c.detail || rt.Origin != c.origin || rt.Rule != "" {
					t.Errorf("Route(%s) = %+v, %v; want target %s detail %q origin %s, no rule", c.addr, rt, err, c.target, c.detail, c.origin)
				}
				conn, err := d.Dial("tcp", c.addr)
				if err != nil {
					t.Fatalf("dial %s: %v", c.addr, err)
				}
				if got := conn.RemoteAddr().String(); got != c.target {
					t.Errorf("dial %s reached %s, want %s", c.addr, got, c.target)
				}
				roundTrip(t, conn)
				conn.Close()
			}

			// The first resolver's failure is the answer: the next is not
			// asked, and the error names the one that failed.
			asked := second.asked.Load()
			_, err := d.Dial("tcp", "kafka-bad:9092")
			var de *DialError
			if !errors.As(err, &de) || de.Route.Origin != OriginResolver || de.Route.Detail != "zone" ||
				!strings.Contains(err.Error(), "the kafkadial resolver failed (zone): upstream timed out") {
				t.Fatalf("dial kafka-bad = %v", err)
			}
			if _, err := d.Route("kafka-bad:9092"); err == nil || !strings.Contains(err.Error(), "upstream timed out") {
				t.Fatalf("Route(kafka-bad) = %v", err)
			}
			if second.asked.Load() != asked {
				t.Error("the second resolver was asked after the first failed")
			}
		})
	}

	// Strict: what no resolver knows is refused.
	d := mustNew(t, WithResolver(first, second), WithStrict())
	if _, err := d.Dial("tcp", direct); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("strict dial of an address no resolver knows = %v, want ErrNoRoute", err)
	}
	if c, err := d.Dial("tcp", "kafka-2:9092"); err != nil {
		t.Fatalf("strict dial of kafka-2: %v", err)
	} else {
		c.Close()
	}
}
