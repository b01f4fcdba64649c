package proxy

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"reflect"
	"time"
)

// Defaults of the options.
const (
	// DefaultListen is the bootstrap listener's address without WithListen.
	DefaultListen = "127.0.0.1:9092"
	// DefaultMaxFrame bounds a request or response frame without
	// WithMaxFrame: 100 MiB, as Kafka's own socket.request.max.bytes.
	DefaultMaxFrame = 100 << 20
	// DefaultTimeout bounds each upstream dial and Start's discovery
	// without WithTimeout.
	DefaultTimeout = 10 * time.Second
)

// An Option configures a Proxy. A nil Option is ignored; options are
// validated by New, and their order does not matter: an option given twice
// with different values is an error naming it (the same value twice is
// not).
type Option func(*config)

type config struct {
	listen      string
	listenSet   bool
	portBase    int
	portBaseSet bool
	tls         *tls.Config
	maxFrame    int
	maxFrameSet bool
	timeout     time.Duration
	timeoutSet  bool
	logger      *slog.Logger
	onListen    func(Listener)

	given map[string]any // the options given, by name, with their value
	err   error          // the first option given twice with different values

	// resolved by resolve
	listenHost string
	listenPort int
}

// set records the value of an option and reports whether to apply it: an
// option given again is applied once, and with a different value it is an
// error New returns (with two values, their order would decide).
func (c *config) set(name string, v any) bool {
	if old, ok := c.given[name]; ok {
		if !sameValue(old, v) && c.err == nil {
			c.err = fmt.Errorf("proxy: %s given twice with different values: options apply in any order, so give it once", name)
		}
		return false
	}
	if c.given == nil {
		c.given = map[string]any{}
	}
	c.given[name] = v
	return true
}

// sameValue reports whether two option values are the same value; values
// of types that cannot be compared (functions) never are.
func sameValue(a, b any) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb || ta == nil || !ta.Comparable() {
		return ta == nil && tb == nil
	}
	return a == b
}

// resolve checks the options together and fills in what depends on more
// than one.
func (c *config) resolve() error {
	if c.err != nil {
		return c.err
	}
	host, port, err := splitHostPort(c.listen)
	if err != nil {
		return fmt.Errorf("proxy: WithListen: %w", err)
	}
	c.listenHost, c.listenPort = host, port
	if c.portBaseSet {
		if c.portBase < 0 || c.portBase > 65535 {
			return fmt.Errorf("proxy: WithPortBase: port %d outside 0..65535", c.portBase)
		}
	} else if port != 0 {
		c.portBase = port + 1
	}
	if c.maxFrame < 8 {
		return fmt.Errorf("proxy: WithMaxFrame: %d bytes, too small for a Kafka frame", c.maxFrame)
	}
	if c.timeout < 0 {
		return fmt.Errorf("proxy: WithTimeout: negative duration %s", c.timeout)
	}
	if c.tls != nil && len(c.tls.Certificates) == 0 && c.tls.GetCertificate == nil && c.tls.GetConfigForClient == nil {
		return fmt.Errorf("proxy: WithTLS: the config has no certificate")
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// WithListen sets the bootstrap listener's host:port, default
// "127.0.0.1:9092". The broker listeners use the same host. Port 0 lets
// the system pick the port of the bootstrap listener and of every broker
// listener: for tests, since such ports are not stable across restarts.
func WithListen(hostport string) Option {
	return func(c *config) {
		if c.set("WithListen", hostport) {
			c.listen, c.listenSet = hostport, true
		}
	}
}

// WithPortBase sets the port scheme: node N listens on port base+N. The
// default base is the bootstrap listener's port plus one (so with the
// default listen address node 0 is on 9093, node 1 on 9094), or, when the
// listen port is 0, none: the system picks each broker's port. A node
// whose port would fall outside 1..65535 is an error naming the node at
// Start, and a log line for a node that appears later.
func WithPortBase(port int) Option {
	return func(c *config) {
		if c.set("WithPortBase", port) {
			c.portBase, c.portBaseSet = port, true
		}
	}
}

// WithTLS serves TLS to clients with the given configuration (it needs a
// certificate); the default is plaintext. TLS to the brokers is the
// dialer's business (dialer.WithTLS).
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) {
		if c.set("WithTLS", cfg) {
			c.tls = cfg
		}
	}
}

// WithMaxFrame bounds the size of a request or response frame, default
// DefaultMaxFrame (100 MiB). A larger frame closes its connection with a
// log line. Memory for a frame the proxy must read whole grows with the
// bytes that arrive; none is allocated up front from the size a peer
// announces.
func WithMaxFrame(n int) Option {
	return func(c *config) {
		if c.set("WithMaxFrame", n) {
			c.maxFrame, c.maxFrameSet = n, true
		}
	}
}

// WithTimeout bounds each upstream dial and Start's discovery of the
// brokers, default DefaultTimeout (10 s), applied as whichever of it and
// the caller's context ends first. Zero means no bound of the proxy's own.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if c.set("WithTimeout", d) {
			c.timeout, c.timeoutSet = d, true
		}
	}
}

// WithLogger sets the logger: listeners opened (Info), connections
// (Debug), bad input and upstream failures (Warn). nil, like the default,
// discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if c.set("WithLogger", l) {
			c.logger = l
		}
	}
}

// WithOnListen calls fn for every broker listener opened after Start
// returned (brokers that appear later), so a command can print them. The
// default calls nothing. fn must not block.
func WithOnListen(fn func(Listener)) Option {
	return func(c *config) {
		if c.set("WithOnListen", fn) {
			c.onListen = fn
		}
	}
}
