package resolver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/testcert"
	"github.com/kafkadial/kafkadial/internal/testnet"
)

// listenerPort accepts connections on loopback, closes them, and reports
// its port.
func listenerPort(t *testing.T) string {
	_, port, _ := net.SplitHostPort(testnet.Listen(t, testnet.Close))
	return port
}

func TestDialerWithResolver(t *testing.T) {
	live, other := listenerPort(t), listenerPort(t)
	dead, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(WithZone(fmt.Sprintf(`
lb A 127.0.0.1
_29092._tcp.kafka-1 SRV 0 0 %d lb   ; nothing listens there: tried first, fails
_29092._tcp.kafka-1 SRV 1 0 %s lb
_29092._tcp.kafka-2 SRV 0 0 %s lb
`, dead, live, other)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := dialer.New(
		dialer.WithRules("kafka-2:29092 => 127.0.0.1:"+live), // rules come before the resolver
		dialer.WithResolver(r),
		dialer.WithStrict(),
		dialer.WithTimeout(5*time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	rt, err := d.Route("kafka-1:29092")
	if err != nil || rt.Rule != "" || rt.Origin != dialer.OriginResolver || rt.Target != fmt.Sprintf("127.0.0.1:%d", dead) || rt.ServerName != "kafka-1" {
		t.Fatalf("Route(kafka-1) = %+v, %v", rt, err)
	}
	c, err := d.DialContext(ctx, "tcp", "kafka-1:29092")
	if err != nil {
		t.Fatalf("dial kafka-1: %v", err)
	}
	if got := c.RemoteAddr().String(); got != "127.0.0.1:"+live {
		t.Fatalf("kafka-1 reached %s, want the second candidate 127.0.0.1:%s", got, live)
	}
	c.Close()

	rt, err = d.RouteContext(ctx, "kafka-2:29092")
	if err != nil || rt.Rule != "rules:1" || rt.Target != "127.0.0.1:"+live {
		t.Fatalf("Route(kafka-2) = %+v, %v; the rule must win over the SRV record", rt, err)
	}

	// Strict: a name neither the rules nor the resolver hold is refused,
	// never looked up by the system resolver.
	_, err = d.DialContext(ctx, "tcp", "kafka-9:29092")
	if !errors.Is(err, dialer.ErrNoRoute) {
		t.Fatalf("dial kafka-9 = %v, want ErrNoRoute", err)
	}
	if rt, err := d.Route("kafka-9:29092"); err != nil || rt.Rule != "" || rt.Target != "kafka-9:29092" {
		t.Fatalf("Route(kafka-9) = %+v, %v", rt, err)
	}

	// Every candidate failing: the error lists them.
	r2, err := New(WithZone(fmt.Sprintf("_9092._tcp.k SRV 0 0 %d lb\nlb A 127.0.0.1\n", dead)))
	if err != nil {
		t.Fatal(err)
	}
	d2, err := dialer.New(dialer.WithResolver(r2))
	if err != nil {
		t.Fatal(err)
	}
	_, err = d2.DialContext(ctx, "tcp", "k:9092")
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" || !strings.Contains(err.Error(), "by the kafkadial resolver") ||
		!strings.Contains(err.Error(), fmt.Sprint(dead)) {
		t.Fatalf("dial k = %v; want a dial error naming the resolver and the candidate", err)
	}
}

// TLS through the resolver verifies the advertised name, not the target the
// resolver gave.
func TestDialerWithResolverTLS(t *testing.T) {
	ca, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	serve := func(names ...string) string {
		cfg, err := ca.Server(names...)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(testnet.Serve(t, ln, func(c net.Conn) {
			c.(*tls.Conn).Handshake()
			c.Close()
		}))
		return port
	}
	good, wrong := serve("kafka-1", "kafka-2"), serve("other")
	r, err := New(WithZone(fmt.Sprintf("lb A 127.0.0.1\n_29092._tcp.kafka-1 SRV 0 0 %s lb\n_29092._tcp.kafka-2 SRV 0 0 %s lb\n", good, wrong)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := dialer.New(dialer.WithResolver(r), dialer.WithTLS(ca.Client()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.DialContext(context.Background(), "tcp", "kafka-1:29092")
	if err != nil {
		t.Fatalf("TLS to kafka-1 through the resolver: %v", err)
	}
	if tc, ok := c.(*tls.Conn); !ok || tc.ConnectionState().ServerName != "kafka-1" {
		t.Fatalf("got %T, want a *tls.Conn verified for kafka-1", c)
	}
	c.Close()
	_, err = d.DialContext(context.Background(), "tcp", "kafka-2:29092")
	var ce *tls.CertificateVerificationError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `"kafka-2"`) {
		t.Fatalf("kafka-2 behind a certificate for another name: %v, want a verification error for kafka-2", err)
	}
}
