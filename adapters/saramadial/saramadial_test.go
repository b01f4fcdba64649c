package saramadial

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/testnet"
	"golang.org/x/net/proxy"
)

// deadlineRecorder is a real net.Dialer that remembers the deadline of the
// context each dial gets.
type deadlineRecorder struct {
	net.Dialer
	mu       sync.Mutex
	deadline time.Time
	ok       bool
}

func (r *deadlineRecorder) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	r.mu.Lock()
	r.deadline, r.ok = ctx.Deadline()
	r.mu.Unlock()
	return r.Dialer.DialContext(ctx, network, addr)
}

func TestConfigure(t *testing.T) {
	srv := testnet.Listen(t, testnet.Discard)
	rec := &deadlineRecorder{}
	d, err := dialer.New(dialer.WithForward(rec), dialer.WithTimeout(0), dialer.WithRules("kafka-1:29092 => "+srv))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cfg := sarama.NewConfig()
	cfg.Net.DialTimeout = 1500 * time.Millisecond
	Configure(cfg, d)
	if !cfg.Net.Proxy.Enable || cfg.Net.Proxy.Dialer == nil {
		t.Fatal("Configure left Net.Proxy unset")
	}
	if cfg.Net.TLS.Enable {
		t.Error("Configure enabled TLS for a dialer without TLS")
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var pd proxy.Dialer = cfg.Net.Proxy.Dialer
	start := time.Now()
	c, err := pd.Dial("tcp", "kafka-1:29092")
	end := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.RemoteAddr().String() != srv {
		t.Errorf("dialled %s, want %s", c.RemoteAddr(), srv)
	}
	// sarama stops applying Net.DialTimeout to proxy dialers; the adapter
	// must, even with the dialer's own timeout off.
	if !rec.ok || rec.deadline.Before(start.Add(cfg.Net.DialTimeout)) || rec.deadline.After(end.Add(cfg.Net.DialTimeout)) {
		t.Errorf("dial deadline %v after the dial began (set %v), want Net.DialTimeout", rec.deadline.Sub(start), rec.ok)
	}
	if _, ok := c.(*net.TCPConn); !ok {
		t.Errorf("proxy dialer returned %T, want the plain conn sarama layers TLS on", c)
	}
}

func TestConfigureHandsTLSToSarama(t *testing.T) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	d, err := dialer.New(dialer.WithTLS(tc), dialer.WithRules("kafka-1:29092 => "+testnet.Listen(t, testnet.Discard)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cfg := sarama.NewConfig()
	Configure(cfg, d)
	if !cfg.Net.TLS.Enable || cfg.Net.TLS.Config != tc {
		t.Fatalf("TLS not handed to sarama: %+v", cfg.Net.TLS)
	}
	// The dialer's connection stays plain: sarama does the handshake.
	c, err := cfg.Net.Proxy.Dialer.Dial("tcp", "kafka-1:29092")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*tls.Conn); ok {
		t.Fatal("proxy dialer returned a TLS conn: sarama would add a second layer")
	}
}
