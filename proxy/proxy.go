package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

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
	log       *slog.Logger

	ctx    context.Context // ends at Close: bounds upstream dials
	cancel context.CancelFunc
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup

	mu    sync.Mutex
	state int // stateNew, stateStarted, stateClosed
	boot  net.Listener
	nodes map[int32]*node
	conns map[*conn]struct{}

	bufs    sync.Pool // *[]byte of copyBuf bytes: copies that cannot splice
	windows sync.Pool // *[]byte of windowSize to maxPooled bytes: streamed and small responses
}

// copyBuf is the buffer size of a copy that cannot splice.
const copyBuf = 64 << 10

func (p *Proxy) getBuf() *[]byte {
	if b, ok := p.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, copyBuf)
	return &b
}

func (p *Proxy) putBuf(b *[]byte) { p.bufs.Put(b) }

// getWindow returns a buffer of at least windowSize bytes (its length is
// its capacity).
func (p *Proxy) getWindow() *[]byte {
	if b, ok := p.windows.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, windowSize)
	return &b
}

// putWindow keeps b for reuse unless it grew beyond maxPooled: no large
// buffer outlives the response that needed it.
func (p *Proxy) putWindow(b *[]byte) {
	if cap(*b) <= maxPooled {
		*b = (*b)[:cap(*b)]
		p.windows.Put(b)
	}
}

const (
	stateNew = iota
	stateStarting
	stateStarted
	stateClosed
)

// node is what the proxy knows of one broker.
type node struct {
	id         int32
	advertised string // host:port as last seen in a response
	local      string // host:port of its listener ("" until known)
	localHost  string // the host rewritten responses give for it
	localPort  int32  // the port they give
	ln         net.Listener
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
	ctx, cancel := context.WithCancel(context.Background())
	return &Proxy{
		bootstrap: bootstrap, d: d, cfg: c, log: c.logger,
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
		nodes: map[int32]*node{}, conns: map[*conn]struct{}{},
	}, nil
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
// listener per broker, and serves in the background until Close. A port
// that is taken is a *ListenError naming the node and the port, and
// nothing stays open. Start on a Proxy already started is an error; on a
// closed Proxy it returns ErrClosed.
//
// A bootstrap broker that cannot be dialled is an error. One that is
// dialled but does not answer the metadata request (it wants SASL first,
// say) is logged: the broker listeners then open as responses name the
// brokers.
func (p *Proxy) Start(ctx context.Context) error {
	p.mu.Lock()
	switch p.state {
	case stateClosed:
		p.mu.Unlock()
		return ErrClosed
	case stateStarting, stateStarted:
		p.mu.Unlock()
		return errors.New("proxy: Start called twice")
	}
	p.state = stateStarting
	p.mu.Unlock()

	err := p.start(ctx)

	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil && p.state == stateClosed {
		err = ErrClosed
	}
	if err != nil {
		if p.boot != nil {
			p.boot.Close()
			p.boot = nil
		}
		for _, n := range p.nodes {
			if n.ln != nil {
				n.ln.Close()
			}
		}
		p.nodes = map[int32]*node{}
		if p.state != stateClosed {
			p.state = stateNew
		}
		return err
	}
	p.state = stateStarted
	p.wg.Add(1)
	go p.accept(p.boot, -1)
	for _, n := range p.nodes {
		if n.ln != nil {
			p.wg.Add(1)
			go p.accept(n.ln, n.id)
		}
	}
	return nil
}

func (p *Proxy) start(ctx context.Context) error {
	ln, err := p.listen(p.cfg.listen)
	if err != nil {
		return &ListenError{NodeID: -1, Addr: p.cfg.listen, Err: err}
	}
	p.mu.Lock()
	p.boot = ln
	p.mu.Unlock()
	p.log.LogAttrs(ctx, slog.LevelInfo, "proxy: listening", slog.Int("node", -1),
		slog.String("local", ln.Addr().String()), slog.String("advertised", p.bootstrap))

	if p.cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.timeout)
		defer cancel()
	}
	brokers, err := discover(ctx, p.d, p.bootstrap)
	if err != nil {
		var de *discoverError
		if !errors.As(err, &de) {
			return fmt.Errorf("proxy: bootstrap broker %s: %w", p.bootstrap, err)
		}
		p.log.LogAttrs(ctx, slog.LevelWarn, "proxy: no metadata from the bootstrap broker; broker listeners open as responses name them",
			slog.String("bootstrap", p.bootstrap), slog.String("err", err.Error()))
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range brokers {
		if _, err := p.nodeLocked(b.id, b.addr, true); err != nil {
			return err
		}
	}
	return nil
}

// listen opens a listener, serving TLS when WithTLS was given.
func (p *Proxy) listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if p.cfg.tls != nil {
		ln = tls.NewListener(ln, p.cfg.tls)
	}
	return ln, nil
}

// portFor is the port of node id's listener: base+id, or 0 (the system
// picks) when the listen port is 0 and no base was given.
func (p *Proxy) portFor(id int32) (int, error) {
	if p.cfg.listenPort == 0 && !p.cfg.portBaseSet {
		return 0, nil
	}
	port := int64(p.cfg.portBase) + int64(id)
	if id < 0 || port < 1 || port > 65535 {
		return 0, fmt.Errorf("proxy: node %d: port %d+%d outside 1..65535 (see WithPortBase)", id, p.cfg.portBase, id)
	}
	return int(port), nil
}

// nodeLocked returns node id, recording advertised as its address (if not
// empty) and opening its listener if it has none. atStart makes a listen
// failure an error (a *ListenError); later it is logged and the node
// keeps the address its port makes, without a listener. p.mu is held.
func (p *Proxy) nodeLocked(id int32, advertised string, atStart bool) (*node, error) {
	n := p.nodes[id]
	if n != nil {
		if advertised != "" && n.advertised != advertised {
			if n.advertised != "" {
				p.log.LogAttrs(p.ctx, slog.LevelInfo, "proxy: broker moved", slog.Int("node", int(id)),
					slog.String("from", n.advertised), slog.String("to", advertised), slog.String("local", n.local))
			}
			n.advertised = advertised
		}
		return n, nil
	}
	n = &node{id: id, advertised: advertised, localHost: p.cfg.listenHost}
	p.nodes[id] = n
	port, err := p.portFor(id)
	if err != nil {
		if atStart {
			delete(p.nodes, id)
			return nil, err
		}
		p.log.LogAttrs(p.ctx, slog.LevelWarn, "proxy: no listener for broker; clients get port 0 for it",
			slog.Int("node", int(id)), slog.String("advertised", advertised), slog.String("err", err.Error()))
		n.local = net.JoinHostPort(p.cfg.listenHost, "0")
		return n, nil
	}
	n.localPort = int32(port)
	n.local = net.JoinHostPort(p.cfg.listenHost, strconv.Itoa(port))
	if p.state == stateClosed {
		return n, nil
	}
	ln, err := p.listen(n.local)
	if err != nil {
		if atStart {
			delete(p.nodes, id)
			return nil, &ListenError{NodeID: id, Addr: n.local, Err: err}
		}
		p.log.LogAttrs(p.ctx, slog.LevelWarn, "proxy: cannot listen for broker; it keeps this address, which clients cannot reach until the proxy restarts",
			slog.Int("node", int(id)), slog.String("local", n.local), slog.String("advertised", advertised), slog.String("err", err.Error()))
		return n, nil
	}
	n.ln = ln
	if port == 0 {
		n.local = ln.Addr().String()
		_, lp, _ := splitHostPort(n.local)
		n.localPort = int32(lp)
	}
	p.log.LogAttrs(p.ctx, slog.LevelInfo, "proxy: listening", slog.Int("node", int(id)),
		slog.String("local", n.local), slog.String("advertised", advertised))
	if p.state == stateStarted {
		p.wg.Add(1)
		go p.accept(ln, id)
		if p.cfg.onListen != nil {
			l := Listener{NodeID: id, Local: n.local, Advertised: advertised}
			fn := p.cfg.onListen
			p.wg.Add(1)
			go func() { defer p.wg.Done(); fn(l) }()
		}
	}
	return n, nil
}

// localFor returns the host and port that responses give for node id,
// recording advertised as the node's address and opening its listener
// first if it is new.
func (p *Proxy) localFor(id int32, advertised string) (string, int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, _ := p.nodeLocked(id, advertised, false)
	return n.localHost, n.localPort
}

// upstreamFor returns the address a connection to node id's listener
// dials: the node's advertised address, or the bootstrap address.
func (p *Proxy) upstreamFor(id int32) string {
	if id < 0 {
		return p.bootstrap
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := p.nodes[id]; n != nil && n.advertised != "" {
		return n.advertised
	}
	return ""
}

// accept serves one listener until it is closed.
func (p *Proxy) accept(ln net.Listener, id int32) {
	defer p.wg.Done()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-p.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and retry,
			// as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			p.log.LogAttrs(p.ctx, slog.LevelWarn, "proxy: accept", slog.Int("node", int(id)),
				slog.String("err", err.Error()), slog.Duration("retry", delay))
			select {
			case <-time.After(delay):
			case <-p.done:
				return
			}
			continue
		}
		delay = 0
		cn := newConn(p, c, id)
		p.mu.Lock()
		if p.state == stateClosed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.conns[cn] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			cn.serve()
			p.mu.Lock()
			delete(p.conns, cn)
			p.mu.Unlock()
		}()
	}
}

// Serve starts the proxy if Start was not called, and serves until ctx
// ends or Close is called; then it closes listeners and connections. It
// returns nil when ctx ended or Close was called, else the error that
// stopped it (such as Start's).
func (p *Proxy) Serve(ctx context.Context) error {
	p.mu.Lock()
	state := p.state
	p.mu.Unlock()
	switch state {
	case stateClosed:
		return ErrClosed
	case stateNew:
		if err := p.Start(ctx); err != nil {
			if errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
	}
	select {
	case <-ctx.Done():
	case <-p.done:
	}
	p.Close()
	return nil
}

// Listeners reports the listeners held: the bootstrap listener first
// (NodeID -1), then the brokers' by node id. A broker whose listener could
// not be opened is not listed.
func (p *Proxy) Listeners() []Listener {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ls []Listener
	if p.boot != nil {
		ls = append(ls, Listener{NodeID: -1, Local: p.boot.Addr().String(), Advertised: p.bootstrap})
	}
	ids := make([]int32, 0, len(p.nodes))
	for id, n := range p.nodes {
		if n.ln != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		n := p.nodes[id]
		ls = append(ls, Listener{NodeID: id, Local: n.local, Advertised: n.advertised})
	}
	return ls
}

// Close stops accepting, closes every client and upstream connection and
// waits for the proxy's goroutines. It is safe to call more than once and
// concurrently with Serve.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.state == stateClosed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.state = stateClosed
	close(p.done)
	p.cancel()
	if p.boot != nil {
		p.boot.Close()
	}
	for _, n := range p.nodes {
		if n.ln != nil {
			n.ln.Close()
		}
	}
	for c := range p.conns {
		c.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}
