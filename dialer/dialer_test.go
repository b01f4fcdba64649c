package dialer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/internal/testcert"
	"github.com/kafkadial/kafkadial/internal/testnet"
)

// echoServer echoes on loopback, over TLS with cfg unless it is nil, and
// reports its address.
func echoServer(t testing.TB, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	return testnet.Serve(t, ln, testnet.Echo)
}

func roundTrip(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
}

func TestDialRemapsAndReturnsPlainConn(t *testing.T) {
	srv := echoServer(t, nil)
	d := mustNew(t, WithRules("kafka-1:29092 => "+srv))
	c, err := d.DialContext(context.Background(), "tcp", "kafka-1:29092")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*net.TCPConn); !ok {
		t.Errorf("direct route returned %T, want *net.TCPConn", c)
	}
	if got := c.RemoteAddr().String(); got != srv {
		t.Errorf("connected to %s, want %s", got, srv)
	}
	roundTrip(t, c)

	// No rule: dialled as is.
	c2, err := d.Dial("tcp", srv)
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
}

func TestDialErrorNamesRoute(t *testing.T) {
	down := testnet.ClosedAddr(t)
	d := mustNew(t, WithNamedRules("rules.txt", "\n\nkafka-3:29092 => "+down))
	_, err := d.DialContext(context.Background(), "tcp", "kafka-3:29092")
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Fatalf("error %T %v is not a *net.OpError with Op dial", err, err)
	}
	msg := err.Error()
	for _, want := range []string{"kafka-3:29092", down, "rules.txt:3", "connection refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(err, ECONNREFUSED) = false for %v", err)
	}
	var de *DialError
	if !errors.As(err, &de) || de.Route.Target != down {
		t.Errorf("no *DialError with the route in %v", err)
	}
	if strings.Count(msg, "dial tcp") != 1 {
		t.Errorf("error repeats itself: %q", msg)
	}
}

func TestStrictFailsClosed(t *testing.T) {
	srv := echoServer(t, nil)
	d := mustNew(t, WithStrict(), WithRules("kafka-1:29092 => "+srv))
	c, err := d.Dial("tcp", "kafka-1:29092")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, err = d.Dial("tcp", srv) // reachable, but no rule names it
	if !errors.Is(err, ErrNoRoute) {
		t.Fatalf("strict dial without a rule: %v, want ErrNoRoute", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" || !strings.Contains(err.Error(), srv) {
		t.Errorf("strict error %v should be a dial *net.OpError naming %s", err, srv)
	}
}

func TestTimeoutHonoured(t *testing.T) {
	// A server that accepts and never speaks: the TLS handshake hangs until
	// the dialer's own timeout ends it, though the caller set no deadline.
	silent := testnet.Listen(t, testnet.Silent)
	d := mustNew(t, WithTimeout(200*time.Millisecond), WithTLS(&tls.Config{}),
		WithRules("kafka-1:29092 => "+silent))
	done := make(chan error, 1)
	go func() {
		_, err := d.DialContext(context.Background(), "tcp", "kafka-1:29092")
		done <- err
	}()
	select {
	case err := <-done:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("error %v is not a timeout", err)
		}
		if !strings.Contains(err.Error(), "dialer timeout 200ms") {
			t.Errorf("error %q does not say which timeout expired", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("dial did not end: the dialer's timeout was not applied")
	}

	// The caller's earlier deadline and cancellation apply too, and the
	// message does not blame the dialer's timeout.
	// Cancel once the server holds the connection: the handshake is then
	// under way.
	accepted := make(chan struct{}, 1)
	held := testnet.Listen(t, func(net.Conn) { accepted <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-accepted; cancel() }()
	d2 := mustNew(t, WithTLS(&tls.Config{}), WithRules("kafka-1:29092 => "+held))
	_, err := d2.DialContext(ctx, "tcp", "kafka-1:29092")
	if err == nil || strings.Contains(err.Error(), "dialer timeout") || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled dial: %v", err)
	}
}

func TestNonTCPPassesThrough(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	addr := pc.LocalAddr().String()
	// A rule that would remap the address if it were TCP.
	d := mustNew(t, WithStrict(), WithRules(addr+" => 127.0.0.1:1"))
	c, err := d.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.RemoteAddr().String() != addr {
		t.Errorf("udp went to %s, want %s untouched", c.RemoteAddr(), addr)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := pc.ReadFrom(make([]byte, 1)); err != nil {
		t.Errorf("datagram did not arrive: %v", err)
	}
}

func TestTLSVerifiesAdvertisedName(t *testing.T) {
	ca, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	good, err := ca.Server("kafka-1", "kafka-2", "kafka-3")
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.Server("somewhere-else")
	if err != nil {
		t.Fatal(err)
	}
	goodAddr, otherAddr := echoServer(t, good), echoServer(t, other)
	d := mustNew(t, WithTLS(ca.Client()), WithRules(
		"kafka-2:29092 => "+goodAddr+"\nkafka-9:29092 => "+otherAddr))

	c, err := d.Dial("tcp", "kafka-2:29092")
	if err != nil {
		t.Fatalf("certificate for kafka-1..3, dial to 127.0.0.1: %v", err)
	}
	tc, ok := c.(*tls.Conn)
	if !ok {
		t.Fatalf("got %T, want *tls.Conn", c)
	}
	if sn := tc.ConnectionState().ServerName; sn != "kafka-2" {
		t.Errorf("ServerName = %q, want the advertised host", sn)
	}
	roundTrip(t, c)
	c.Close()

	_, err = d.Dial("tcp", "kafka-9:29092")
	var ce *tls.CertificateVerificationError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `"kafka-9"`) {
		t.Errorf("certificate for another name: %v, want a verification error naming kafka-9", err)
	}
	// The remapped target's own name is never what is verified.
	_, err = d.Dial("tcp", goodAddr)
	if !errors.As(err, &ce) {
		t.Errorf("dial to the target itself should fail verification: %v", err)
	}
	// Plain leaves TLS to the caller: the conn is the TCP conn.
	pc, err := d.Plain().DialContext(context.Background(), "tcp", "kafka-2:29092")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, ok := pc.(*net.TCPConn); !ok {
		t.Errorf("Plain returned %T", pc)
	}
}

func TestClose(t *testing.T) {
	d := mustNew(t)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Dial("tcp", echoServer(t, nil)); !errors.Is(err, ErrClosed) {
		t.Errorf("dial after Close: %v", err)
	}
}

func TestLoggerSeesRoutes(t *testing.T) {
	srv := echoServer(t, nil)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d := mustNew(t, WithLogger(log), WithRules("kafka-1:29092 => "+srv))
	c, err := d.Dial("tcp", "kafka-1:29092")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if s := buf.String(); !strings.Contains(s, "addr=kafka-1:29092") || !strings.Contains(s, "target="+srv) || !strings.Contains(s, "rule=rules:1") {
		t.Errorf("log lacks the route: %s", s)
	}
}

func TestWithViaNamedHop(t *testing.T) {
	srv := echoServer(t, nil)
	hop := &countingDialer{}
	d := mustNew(t, WithVia("jump", hop), WithRules("kafka-1:29092 => "+srv+" via jump"))
	rt, err := d.Route("kafka-1:29092")
	if err != nil || rt.Via != "jump" {
		t.Fatalf("Route: %+v %v", rt, err)
	}
	c, err := d.Dial("tcp", "kafka-1:29092")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if hop.n != 1 {
		t.Errorf("hop dialled %d times, want 1", hop.n)
	}
}

// countingDialer is a real net.Dialer that counts its dials.
type countingDialer struct {
	net.Dialer
	n int
}

func (c *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c.n++
	return c.Dialer.DialContext(ctx, network, addr)
}

func TestHTTPTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "host="+r.Host)
	}))
	defer srv.Close()
	d := mustNew(t, WithStrict(), WithRules("schema-registry:8081 => "+srv.Listener.Addr().String()))
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	resp, err := client.Get("http://schema-registry:8081/subjects")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "host=schema-registry:8081" {
		t.Errorf("body %q", body)
	}
	if _, err := client.Get("http://elsewhere:8081/"); !errors.Is(err, ErrNoRoute) {
		t.Errorf("strict: %v", err)
	}
}
