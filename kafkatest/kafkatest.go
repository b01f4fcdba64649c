// Package kafkatest starts an embedded Kafka cluster (github.com/twmb/franz-go/pkg/kfake)
// that behaves like one in docker-compose: each broker advertises a name the
// host cannot resolve (kafka-1:29092, kafka-2:29092, ...) while it listens on
// loopback, and a TCP forwarder publishes each broker on a host port, as
// docker-proxy does. A client that follows the advertised names fails; one
// that dials through rules from Rules reaches every broker.
//
//	c, err := kafkatest.Start(kafkatest.Topic("events", 6))
//	if err != nil { ... }
//	defer c.Close()
//	d, err := dialer.New(dialer.WithRules(c.Rules()))
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
	n          int
	advertise  func(i int) string
	listen     func(i int) string
	publish    func(i int) string
	tls        *tls.Config
	topics     map[string]int32
	order      []string
	partitions int
	kfakeOpts  []kfake.Opt
}

// Opt configures Start.
type Opt func(*config)

// Brokers sets the number of brokers (default 3).
func Brokers(n int) Opt { return func(c *config) { c.n = n } }

// Advertise sets the address broker i (1-based) advertises; the default is
// "kafka-{i}:29092". A "{id}" in the pattern is replaced by i.
func Advertise(pattern string) Opt {
	return func(c *config) { c.advertise = expander(pattern) }
}

// Listen sets where broker i (1-based) really listens (default
// "127.0.0.1:0"). A "{id}" in the pattern is replaced by i.
func Listen(pattern string) Opt { return func(c *config) { c.listen = expander(pattern) } }

// Publish sets the published (forwarded) address of broker i (1-based),
// default "127.0.0.1:0". A "{id}" is replaced by i; use "" to publish nothing.
func Publish(pattern string) Opt { return func(c *config) { c.publish = expander(pattern) } }

// PublishPorts publishes broker i on 127.0.0.1:base+i.
func PublishPorts(base int) Opt {
	return func(c *config) {
		c.publish = func(i int) string { return "127.0.0.1:" + strconv.Itoa(base+i) }
	}
}

// TLS makes the brokers speak TLS with the given server config.
func TLS(cfg *tls.Config) Opt { return func(c *config) { c.tls = cfg } }

// Topic creates a topic with the given number of partitions.
func Topic(name string, partitions int32) Opt {
	return func(c *config) {
		if c.topics == nil {
			c.topics = map[string]int32{}
		}
		c.topics[name] = partitions
		c.order = append(c.order, name)
	}
}

// Kfake passes options through to kfake.NewCluster.
func Kfake(opts ...kfake.Opt) Opt {
	return func(c *config) { c.kfakeOpts = append(c.kfakeOpts, opts...) }
}

func expander(pattern string) func(int) string {
	return func(i int) string { return strings.ReplaceAll(pattern, "{id}", strconv.Itoa(i)) }
}

// Start starts the cluster and its forwarders.
func Start(opts ...Opt) (*Cluster, error) {
	c := &config{
		n:         3,
		advertise: expander("kafka-{id}:29092"),
		listen:    expander("127.0.0.1:0"),
		publish:   expander("127.0.0.1:0"),
	}
	for _, o := range opts {
		o(c)
	}
	cl := &Cluster{}
	var lnErr error
	next := 0
	listen := func(network, _ string) (net.Listener, error) {
		next++
		i := next
		if i > c.n {
			lnErr = fmt.Errorf("kafkatest: kfake asked for listener %d of %d", i, c.n)
			return nil, lnErr
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
		return nil, err
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
