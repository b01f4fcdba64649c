// Package kafkatest starts an embedded Kafka cluster that advertises names
// the host cannot resolve, as a docker-compose cluster does, for tests of
// code that dials through kafkadial.
//
//	c, err := kafkatest.Start(kafkatest.WithBrokers(3), kafkatest.WithTopic("events", 6))
//	if err != nil { ... }
//	defer c.Close()
//	d, err := dialer.New(dialer.WithRules(c.Rules()))
//	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seed()), franzdial.Opt(d))
//
// The brokers are github.com/twmb/franz-go/pkg/kfake. Each advertises a
// Docker-style name (kafka-1:29092, kafka-2:29092, ...) while it listens on
// loopback, and a TCP forwarder publishes it on a host port, as
// docker-proxy does. A client that follows the advertised names fails; one
// that dials through the rules from Rules reaches every broker. Options
// that cannot apply (WithBrokers(0), a topic without partitions, a pattern
// that is not host:port) make Start fail with an error that names them; a
// nil option is ignored, and their order does not matter.
package kafkatest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker describes one broker of a Cluster.
type Broker struct {
	ID         int32  // the node id kfake gives it (0-based)
	Advertised string // the address metadata hands out, e.g. "kafka-1:29092"
	Listen     string // where the broker really listens, e.g. "127.0.0.1:41234"
	Published  string // the forwarder in front of it, e.g. "127.0.0.1:19091"
}

// Cluster is a running embedded cluster with its forwarders.
type Cluster struct {
	Brokers []Broker
	kf      *kfake.Cluster
	fwds    []*Forwarder
}

type config struct {
	n         int
	advertise func(i int) string
	listen    func(i int) string
	publish   func(i int) string
	tls       *tls.Config
	topics    map[string]int32
	order     []string
	kfakeOpts []kfake.Opt
	// publishBase is WithPublishPorts' base, checked against n; -1 without it.
	publishBase int
	given       map[string]any // single-valued options given, with their value
}

// setOnce records the value of a single-valued option; giving it again with
// another value is an error, since the order of options would decide.
func (c *config) setOnce(name string, v any) error {
	if old, ok := c.given[name]; ok {
		if old != v {
			return fmt.Errorf("kafkatest: %s given twice with different values: options apply in any order, so give it once", name)
		}
		return nil
	}
	if c.given == nil {
		c.given = map[string]any{}
	}
	c.given[name] = v
	return nil
}

// Option configures Start. A nil Option is ignored. The order of options
// never matters: an option that sets one value may be given again only
// with the same value, WithPublish and WithPublishPorts exclude each
// other, and topics are created in the order given. An option that cannot
// apply makes Start fail with an error that names it.
type Option func(*config) error

// maxBrokers bounds WithBrokers: every broker costs a listener and a
// forwarder.
const maxBrokers = 64

// WithBrokers sets the number of brokers, from 1 to 64. Default: 3.
func WithBrokers(n int) Option {
	return func(c *config) error {
		if n < 1 || n > maxBrokers {
			return fmt.Errorf("kafkatest: WithBrokers(%d): the number of brokers must be from 1 to %d", n, maxBrokers)
		}
		if err := c.setOnce("WithBrokers", n); err != nil {
			return err
		}
		c.n = n
		return nil
	}
}

// WithAdvertise sets the address broker i (1-based) advertises. A "{id}" in
// the pattern is replaced by i. The pattern must be a host:port with a
// numeric port. Default: "kafka-{id}:29092".
func WithAdvertise(pattern string) Option {
	return func(c *config) error {
		if err := checkPattern("WithAdvertise", pattern, false); err != nil {
			return err
		}
		if err := c.setOnce("WithAdvertise", pattern); err != nil {
			return err
		}
		c.advertise = expander(pattern)
		return nil
	}
}

// WithListen sets where broker i (1-based) really listens. A "{id}" in the
// pattern is replaced by i. Default: "127.0.0.1:0".
func WithListen(pattern string) Option {
	return func(c *config) error {
		if err := checkPattern("WithListen", pattern, true); err != nil {
			return err
		}
		if err := c.setOnce("WithListen", pattern); err != nil {
			return err
		}
		c.listen = expander(pattern)
		return nil
	}
}

// WithPublish sets the published (forwarded) address of broker i
// (1-based). A "{id}" is replaced by i; "" publishes nothing. It excludes
// WithPublishPorts. Default: "127.0.0.1:0".
func WithPublish(pattern string) Option {
	return func(c *config) error {
		if pattern != "" {
			if err := checkPattern("WithPublish", pattern, true); err != nil {
				return err
			}
		}
		if err := c.setOnce("WithPublish", pattern); err != nil {
			return err
		}
		c.publish = expander(pattern)
		return nil
	}
}

// WithPublishPorts publishes broker i on 127.0.0.1:base+i. Start refuses a
// base that puts a broker's port outside 1-65535. It excludes WithPublish.
// Default: WithPublish's default, a port the kernel picks.
func WithPublishPorts(base int) Option {
	return func(c *config) error {
		if base < 0 {
			return fmt.Errorf("kafkatest: WithPublishPorts(%d): the base port must not be negative", base)
		}
		if err := c.setOnce("WithPublishPorts", base); err != nil {
			return err
		}
		c.publishBase = base
		return nil
	}
}

// WithTLS makes the brokers speak TLS with the given server config (not
// nil). Default: plaintext.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) error {
		if cfg == nil {
			return errors.New("kafkatest: WithTLS(nil): a TLS option needs a server config")
		}
		if err := c.setOnce("WithTLS", cfg); err != nil {
			return err
		}
		c.tls = cfg
		return nil
	}
}

// WithTopic creates a topic with the given number of partitions (at least
// 1). Each name may be given once. Default: no topics.
func WithTopic(name string, partitions int32) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("kafkatest: WithTopic: empty topic name")
		}
		if partitions < 1 {
			return fmt.Errorf("kafkatest: WithTopic(%q, %d): a topic needs at least 1 partition", name, partitions)
		}
		if _, dup := c.topics[name]; dup {
			return fmt.Errorf("kafkatest: WithTopic(%q): topic given twice", name)
		}
		if c.topics == nil {
			c.topics = map[string]int32{}
		}
		c.topics[name] = partitions
		c.order = append(c.order, name)
		return nil
	}
}

// WithKfake passes options through to kfake.NewCluster, after the ones
// Start sets itself, in the order given. Default: none.
func WithKfake(opts ...kfake.Opt) Option {
	return func(c *config) error {
		c.kfakeOpts = append(c.kfakeOpts, opts...)
		return nil
	}
}

// Brokers is the former name of WithBrokers.
//
// Deprecated: use WithBrokers.
func Brokers(n int) Option { return WithBrokers(n) }

// Advertise is the former name of WithAdvertise.
//
// Deprecated: use WithAdvertise.
func Advertise(pattern string) Option { return WithAdvertise(pattern) }

// Listen is the former name of WithListen.
//
// Deprecated: use WithListen.
func Listen(pattern string) Option { return WithListen(pattern) }

// Publish is the former name of WithPublish.
//
// Deprecated: use WithPublish.
func Publish(pattern string) Option { return WithPublish(pattern) }

// PublishPorts is the former name of WithPublishPorts.
//
// Deprecated: use WithPublishPorts.
func PublishPorts(base int) Option { return WithPublishPorts(base) }

// TLS is the former name of WithTLS.
//
// Deprecated: use WithTLS.
func TLS(cfg *tls.Config) Option { return WithTLS(cfg) }

// Topic is the former name of WithTopic.
//
// Deprecated: use WithTopic.
func Topic(name string, partitions int32) Option { return WithTopic(name, partitions) }

// Kfake is the former name of WithKfake.
//
// Deprecated: use WithKfake.
func Kfake(opts ...kfake.Opt) Option { return WithKfake(opts...) }

// checkPattern reports a pattern that is not a host:port once "{id}" is
// replaced; port 0 is allowed where the kernel may pick one (listen).
func checkPattern(opt, pattern string, portZero bool) error {
	host, port, err := net.SplitHostPort(expander(pattern)(1))
	if err == nil {
		n, perr := strconv.Atoi(port)
		switch {
		case perr != nil || n < 0 || n > 65535:
			err = fmt.Errorf("port %q is not a number from 0 to 65535", port)
		case n == 0 && !portZero:
			err = errors.New("port 0 cannot be advertised")
		case host == "" && !portZero:
			err = errors.New("empty host")
		}
	}
	if err != nil {
		return fmt.Errorf("kafkatest: %s(%q): want host:port with {id} for the broker number: %w", opt, pattern, err)
	}
	return nil
}

func expander(pattern string) func(int) string {
	return func(i int) string { return strings.ReplaceAll(pattern, "{id}", strconv.Itoa(i)) }
}

// Start starts the cluster and its forwarders.
func Start(opts ...Option) (*Cluster, error) {
	c := &config{
		n:           3,
		advertise:   expander("kafka-{id}:29092"),
		listen:      expander("127.0.0.1:0"),
		publish:     expander("127.0.0.1:0"),
		publishBase: -1,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.publishBase >= 0 {
		if _, both := c.given["WithPublish"]; both {
			return nil, errors.New("kafkatest: WithPublish and WithPublishPorts both given: each sets the published addresses, give one")
		}
		if c.publishBase+c.n > 65535 {
			return nil, fmt.Errorf("kafkatest: WithPublishPorts(%d): broker %d would be published on port %d, above 65535", c.publishBase, c.n, c.publishBase+c.n)
		}
		base := c.publishBase
		c.publish = func(i int) string { return "127.0.0.1:" + strconv.Itoa(base+i) }
	}
	cl := &Cluster{}
	next := 0
	listen := func(network, _ string) (net.Listener, error) {
		next++
		i := next
		if i > c.n {
			return nil, fmt.Errorf("kafkatest: kfake asked for listener %d of %d", i, c.n)
		}
		ln, err := net.Listen(network, c.listen(i))
		if err != nil {
			return nil, err
		}
		adv := c.advertise(i)
		cl.Brokers = append(cl.Brokers, Broker{ID: int32(i - 1), Advertised: adv, Listen: ln.Addr().String()})
		return &namedListener{Listener: ln, name: adv}, nil
	}
	kopts := []kfake.Opt{kfake.NumBrokers(c.n), kfake.ListenFn(listen)}
	if c.tls != nil {
		kopts = append(kopts, kfake.TLS(c.tls))
	}
	for _, t := range c.order {
		kopts = append(kopts, kfake.SeedTopics(c.topics[t], t))
	}
	kopts = append(kopts, c.kfakeOpts...)
	kf, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: starting kfake: %w", err)
	}
	cl.kf = kf
	for i := range cl.Brokers {
		addr := c.publish(i + 1)
		if addr == "" {
			continue
		}
		f, err := Forward(addr, cl.Brokers[i].Listen)
		if err != nil {
			cl.Close()
			return nil, fmt.Errorf("kafkatest: publishing broker %d on %s: %w", i+1, addr, err)
		}
		cl.fwds = append(cl.fwds, f)
		cl.Brokers[i].Published = f.Addr()
	}
	return cl, nil
}

// Kfake returns the underlying kfake cluster.
func (c *Cluster) Kfake() *kfake.Cluster { return c.kf }

// Seed returns the published address of the first broker: the bootstrap
// address a user on the host would configure.
func (c *Cluster) Seed() string { return c.Brokers[0].Published }

// Rules returns kafkadial rules that map each advertised address to its
// published address, and keep each published address as it is (so that a
// strict dialer also reaches the seeds).
func (c *Cluster) Rules() string {
	var b strings.Builder
	for _, br := range c.Brokers {
		if br.Published != "" {
			fmt.Fprintf(&b, "%s => %s\n", br.Advertised, br.Published)
		}
	}
	for _, br := range c.Brokers {
		if br.Published != "" {
			fmt.Fprintf(&b, "%s => =\n", br.Published)
		}
	}
	return b.String()
}

// Forwarder returns the forwarder of broker i (0-based), or nil.
func (c *Cluster) Forwarder(i int) *Forwarder {
	for _, f := range c.fwds {
		if f.target == c.Brokers[i].Listen {
			return f
		}
	}
	return nil
}

// Close stops the forwarders and the cluster.
func (c *Cluster) Close() {
	for _, f := range c.fwds {
		f.Close()
	}
	if c.kf != nil {
		c.kf.Close()
	}
}

// AdvertiseAs wraps ln so that its Addr reports name, the address kfake hands
// out in metadata for a listener given through kfake.ListenFn.
func AdvertiseAs(ln net.Listener, name string) net.Listener {
	return &namedListener{Listener: ln, name: name}
}

// namedListener reports an advertised name as its address, which kfake
// hands out in metadata.
type namedListener struct {
	net.Listener
	name string
}

func (l *namedListener) Addr() net.Addr { return advertisedAddr(l.name) }

type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

// Forwarder is a plain TCP forwarder, the part docker-proxy plays for a
// published port.
type Forwarder struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// Forward listens on addr and forwards every connection to target.
func Forward(addr, target string) (*Forwarder, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return ForwardFrom(ln, target), nil
}

// ForwardFrom forwards every connection accepted on ln to target; Close
// closes ln.
func ForwardFrom(ln net.Listener, target string) *Forwarder {
	f := &Forwarder{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	return f
}

// Addr is the published address.
func (f *Forwarder) Addr() string { return f.ln.Addr().String() }

func (f *Forwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go f.pipe(c)
	}
}

func (f *Forwarder) track(c net.Conn, add bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if add {
		if f.closed {
			return false
		}
		f.conns[c] = struct{}{}
	} else {
		delete(f.conns, c)
	}
	return true
}

func (f *Forwarder) pipe(c net.Conn) {
	defer f.wg.Done()
	defer c.Close()
	if !f.track(c, true) {
		return
	}
	defer f.track(c, false)
	up, err := net.Dial("tcp", f.target)
	if err != nil {
		return
	}
	defer up.Close()
	if !f.track(up, true) {
		return
	}
	defer f.track(up, false)
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	<-done
}

// Close stops listening and cuts every forwarded connection.
func (f *Forwarder) Close() error {
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	err := f.ln.Close()
	f.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
