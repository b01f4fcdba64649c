package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/kafkadial/kafkadial/hop"
)

// ContextDialer dials the brokers: normally a *dialer.Dialer.
type ContextDialer = hop.ContextDialer

// Listener is a listener the proxy holds.
type Listener struct {
	NodeID     int32  // -1 for the bootstrap listener
	Local      string // host:port clients dial, e.g. "127.0.0.1:9093"
	Advertised string // the broker's advertised host:port, dialled through the ContextDialer (the bootstrap address for NodeID -1)
}

// Proxy is a Kafka proxy: a bootstrap listener and one listener per
// broker, each connection forwarded to its broker through a ContextDialer
// with the broker addresses in responses rewritten to the proxy's
// listeners. Make one with New.
type Proxy struct {
	bootstrap string
	d         ContextDialer
	cfg       config
}

// New checks its arguments and options and returns a Proxy for the cluster
// whose bootstrap broker is at bootstrap (host:port, dialled through d).
// It does no I/O: Start or Serve opens the listeners.
func New(bootstrap string, d ContextDialer, opts ...Option) (*Proxy, error) {
	if d == nil {
		return nil, errors.New("proxy: nil ContextDialer")
	}
	if _, _, err := splitHostPort(bootstrap); err != nil {
		return nil, fmt.Errorf("proxy: bootstrap address: %w", err)
	}
	c := config{listen: DefaultListen, maxFrame: DefaultMaxFrame, timeout: DefaultTimeout}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if err := c.resolve(); err != nil {
		return nil, err
	}
	return &Proxy{bootstrap: bootstrap, d: d, cfg: c}, nil
}

// splitHostPort splits host:port and checks the port is a number in
// 0..65535.
func splitHostPort(hostport string) (string, int, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q in %q: not a number from 0 to 65535", port, hostport)
	}
	return host, int(n), nil
}

// Start opens the bootstrap listener, asks the bootstrap broker for
// metadata through the dialer (bounded by ctx and WithTimeout), opens one
// listener per broker, and serves in the background. A port that is taken
// is a *ListenError naming the node and the port. Start on a Proxy already
// started is an error; on a closed Proxy it returns ErrClosed.
func (p *Proxy) Start(ctx context.Context) error {
	return errors.New("TODO")
}

// Serve starts the proxy if Start was not called, and serves until ctx
// ends or Close is called; then it closes listeners and connections. It
// returns nil when ctx ended or Close was called, else the error that
// stopped it (such as Start's).
func (p *Proxy) Serve(ctx context.Context) error {
	return errors.New("TODO")
}

// Listeners reports the listeners held: the bootstrap listener first
// (NodeID -1), then the brokers' by node id.
func (p *Proxy) Listeners() []Listener {
	return nil
}

// Close stops accepting, closes every client and upstream connection and
// waits for the proxy's goroutines. It is safe to call more than once and
// concurrently with Serve.
func (p *Proxy) Close() error {
	return nil
}
