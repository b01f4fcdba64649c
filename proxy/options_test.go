package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

type nopDialer struct{}

func (nopDialer) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, net.ErrClosed
}

// Errors name the option, in either order of the options.
func TestOptionErrorsNameTheOption(t *testing.T) {
	cert := &tls.Config{Certificates: make([]tls.Certificate, 1)}
	for _, c := range []struct {
		opts []Option
		want string
	}{
		{[]Option{WithListen("nowhere")}, "proxy: WithListen: "},
		{[]Option{WithListen("127.0.0.1:70000")}, "proxy: WithListen: "},
		{[]Option{WithPortBase(-1)}, "proxy: WithPortBase: port -1 outside 0..65535"},
		{[]Option{WithMaxFrame(4)}, "proxy: WithMaxFrame: 4 bytes, too small"},
		{[]Option{WithTimeout(-time.Second)}, "proxy: WithTimeout: negative duration -1s"},
		{[]Option{WithTLS(&tls.Config{})}, "proxy: WithTLS: the config has no certificate"},
		{[]Option{WithListen("127.0.0.1:9092"), WithListen("127.0.0.1:19092")}, "proxy: WithListen given twice with different values"},
		{[]Option{WithPortBase(20000), WithPortBase(30000)}, "proxy: WithPortBase given twice"},
		{[]Option{WithMaxFrame(1 << 20), WithMaxFrame(2 << 20)}, "proxy: WithMaxFrame given twice"},
		{[]Option{WithTimeout(time.Second), WithTimeout(2 * time.Second)}, "proxy: WithTimeout given twice"},
		{[]Option{WithTLS(cert), WithTLS(cert.Clone())}, "proxy: WithTLS given twice"},
		{[]Option{WithLogger(nil), WithLogger(slog.Default())}, "proxy: WithLogger given twice"},
		{[]Option{WithOnListen(func(Listener) {}), WithOnListen(func(Listener) {})}, "proxy: WithOnListen given twice"},
	} {
		for _, opts := range [][]Option{c.opts, {c.opts[len(c.opts)-1], c.opts[0]}} {
			_, err := New("kafka-0:9092", nopDialer{}, opts...)
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("New: error %v, want one starting %q", err, c.want)
			}
		}
	}
	if _, err := New("kafka-0", nopDialer{}); err == nil || !strings.HasPrefix(err.Error(), "proxy: bootstrap address: ") {
		t.Errorf("a bootstrap without a port: %v", err)
	}
	if _, err := New("kafka-0:9092", nil); err == nil {
		t.Error("a nil dialer is accepted")
	}
}

// The same value twice is no conflict, a nil Option is ignored, and the
// order of options never changes the result.
func TestOptionOrderDoesNotMatter(t *testing.T) {
	cert := &tls.Config{Certificates: make([]tls.Certificate, 1)}
	l := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := []Option{WithListen("127.0.0.1:29092"), WithPortBase(30000), WithMaxFrame(1 << 20),
		WithTimeout(3 * time.Second), WithTLS(cert), WithLogger(l), nil}
	want, err := New("kafka-0:9092", nopDialer{}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range opts {
		// Rotate, and give the first option once more.
		perm := append(append(append([]Option(nil), opts[i:]...), opts[:i]...), opts[i])
		got, err := New("kafka-0:9092", nopDialer{}, perm...)
		if err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
		if got.cfg.listenHost != want.cfg.listenHost || got.cfg.listenPort != want.cfg.listenPort ||
			got.cfg.portBase != want.cfg.portBase || got.cfg.maxFrame != want.cfg.maxFrame ||
			got.cfg.timeout != want.cfg.timeout || got.cfg.tls != want.cfg.tls || got.cfg.logger != want.cfg.logger {
			t.Errorf("rotation %d: config %+v, want %+v", i, got.cfg, want.cfg)
		}
	}
}

// Defaults, as the options' documentation states them; WithLogger(nil)
// discards.
func TestOptionDefaults(t *testing.T) {
	p, err := New("kafka-0:9092", nopDialer{}, WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := p.cfg
	if c.listenHost != "127.0.0.1" || c.listenPort != 9092 || c.portBase != 9093 || c.maxFrame != DefaultMaxFrame ||
		c.timeout != DefaultTimeout || c.tls != nil || c.logger == nil || c.logger.Enabled(context.Background(), slog.LevelError) {
		t.Errorf("defaults: %+v", c)
	}
}
