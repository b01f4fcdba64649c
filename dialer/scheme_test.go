package dialer

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kafkadial/kafkadial/hop"
)

// recordingHop is a hop of a scheme registered in a test: it dials the
// target through its forward dialer, records what it was asked, and counts
// Close calls.
type recordingHop struct {
	req    hop.Request
	dials  atomic.Int32
	closed atomic.Int32
}

func (h *recordingHop) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	h.dials.Add(1)
	return h.req.Forward.DialContext(ctx, network, addr)
}

func (h *recordingHop) Close() error { h.closed.Add(1); return nil }

func TestWithSchemeBuildsPerDialer(t *testing.T) {
	echo := echoServer(t, nil)
	var built []*recordingHop
	b := hop.BuilderFunc(func(req hop.Request) (hop.ContextDialer, error) {
		if req.URL.Host == "refuse" {
			return nil, errors.New("no such tunnel")
		}
		h := &recordingHop{req: req}
		built = append(built, h)
		return h, nil
	})
	d, err := New(WithScheme("Tun", b), WithRules("a:1 => "+echo+" via tun://gw-1\nb:1 => "+echo+" via tun://gw-1\nc:1 => "+echo+" via tun://gw-1,tun://gw-2"))
	if err != nil {
		t.Fatal(err)
	}
	// One hop per distinct chain prefix: gw-1 (shared by a, b and c's
	// first hop) and gw-2 reached through it.
	if len(built) != 2 || built[0].req.Chain != "" || !built[0].req.First() ||
		built[1].req.Chain != "tun://gw-1" || built[1].req.Forward != built[0] {
		t.Fatalf("built %d hops: %+v", len(built), built)
	}
	for _, a := range []string{"a:1", "b:1", "c:1"} {
		c, err := d.Dial("tcp", a)
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		roundTrip(t, c)
		c.Close()
	}
	if built[0].dials.Load() != 3 || built[1].dials.Load() != 1 {
		t.Fatalf("dials through gw-1, gw-2 = %d, %d; want 3, 1", built[0].dials.Load(), built[1].dials.Load())
	}
	if rt, _ := d.Route("c:1"); rt.Via != "tun://gw-1,tun://gw-2" || rt.Origin != OriginRule {
		t.Fatalf("Route(c:1) = %+v", rt)
	}
	d.Close()
	// The hops are the builder's, which the caller gave: the dialer does
	// not close them (an http.Client does not close its Transport).
	if built[0].closed.Load() != 0 || built[1].closed.Load() != 0 {
		t.Fatalf("Dialer.Close closed the builder's hops %d and %d times", built[0].closed.Load(), built[1].closed.Load())
	}

	// Another dialer without the scheme does not know it: no global registry.
	_, err = New(WithRules("a:1 => = via tun://gw-1"))
	var re *RuleError
	if !errors.As(err, &re) || re.Col != 14 || !strings.Contains(err.Error(), `unknown hop scheme "tun"`) || !strings.Contains(err.Error(), "WithScheme") {
		t.Fatalf("New without the scheme: %v", err)
	}
	// A builder's error is the rule's error, at the hop's column.
	_, err = New(WithScheme("tun", b), WithRules("x:1 => = via tun://refuse"))
	if !errors.As(err, &re) || re.Line != 1 || re.Col != 14 || !strings.Contains(err.Error(), "no such tunnel") {
		t.Fatalf("refusing builder: %v", err)
	}
	fs, err := Check(WithScheme("tun", b), WithRules("x:1 => = via tun://refuse\ny:1 => = via tun://ok"))
	if err != nil || len(fs) != 1 || fs[0].Kind != FindingHop || fs[0].Line != 1 {
		t.Fatalf("Check: %v %v", fs, err)
	}
	for _, bad := range []string{"", "1x", "a b", "a/b"} {
		if _, err := New(WithScheme(bad, b)); err == nil {
			t.Errorf("WithScheme(%q) accepted", bad)
		}
	}
	if _, err := New(WithScheme("x", nil)); err == nil {
		t.Error("WithScheme with a nil builder accepted")
	}
}

// detailResolver answers every kafka-N name with one target and says which.
type detailResolver struct{ target string }

func (r detailResolver) Resolve(ctx context.Context, hostport string) ([]string, error) {
	t, _, err := r.ResolveDetail(ctx, hostport)
	return t, err
}

func (r detailResolver) ResolveDetail(_ context.Context, hostport string) ([]string, string, error) {
	if !strings.HasPrefix(hostport, "kafka-") {
		return nil, "", &net.DNSError{Err: "not found", Name: hostport, IsNotFound: true}
	}
	if hostport == "kafka-9:1" {
		return nil, "container kafka-9", errors.New("container kafka-9 is stopped")
	}
	return []string{r.target}, "container " + strings.TrimSuffix(hostport, ":1"), nil
}

func TestRouteOrigin(t *testing.T) {
	echo := echoServer(t, nil)
	d := mustNew(t, WithRules("r:1 => "+echo), WithResolver(detailResolver{echo}))
	for _, c := range []struct {
		addr   string
		origin Origin
		rule   string
		detail string
		target string
	}{
		{"r:1", OriginRule, "rules:1", "", echo},
		{"kafka-2:1", OriginResolver, "", "container kafka-2", echo}, // Rule names rules only
		{"other:1", OriginNone, "", "", "other:1"},
	} {
		rt, err := d.Route(c.addr)
		if err != nil || rt.Origin != c.origin || rt.Rule != c.rule || rt.Detail != c.detail || rt.Target != c.target {
			t.Errorf("Route(%q) = %+v, %v", c.addr, rt, err)
		}
	}
	if OriginRule.String() != "rule" || OriginResolver.String() != "resolver" || OriginNone.String() != "none" {
		t.Error("Origin strings")
	}
	c, err := d.Dial("tcp", "kafka-2:1")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c)
	c.Close()
	_, err = d.Dial("tcp", "kafka-9:1")
	var de *DialError
	if !errors.As(err, &de) || de.Route.Origin != OriginResolver ||
		!strings.Contains(err.Error(), "the kafkadial resolver failed (container kafka-9): container kafka-9 is stopped") {
		t.Fatalf("dial kafka-9: %v", err)
	}
}

var _ io.Closer = (*recordingHop)(nil)
