package dialer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshHopKey identifies one SSH connection: every rule that reaches the same
// user@host:port through the same dialer shares it.
type sshHopKey struct {
	forward    ContextDialer
	user, addr string
	password   string
}

// sshHop builds the hop for an ssh:// URL: the endpoint's ProxyJump chain
// (when this is the first hop of the rule; a later hop is reached through
// the hops the rule lists, as `ssh -J` overrides ProxyJump), then the
// endpoint itself.
func (d *Dialer) sshHop(c *config, u *url.URL, forward ContextDialer) (ContextDialer, error) {
	s, err := c.sshSettings()
	if err != nil {
		return nil, err
	}
	ep, err := s.endpoint(u, sameDialer(forward, d.forward))
	if err != nil {
		return nil, err
	}
	fwd := forward
	for _, j := range ep.jumps {
		fwd = d.sshHopFor(c, j, fwd)
	}
	return d.sshHopFor(c, ep, fwd), nil
}

func (d *Dialer) sshHopFor(c *config, ep *sshEndpoint, forward ContextDialer) *sshHop {
	key := sshHopKey{user: ep.user, addr: ep.addr(), password: ep.password}
	shared := comparableDialer(forward)
	if shared {
		key.forward = forward
		if h, ok := c.hop.sshHops[key]; ok {
			return h
		}
	}
	timeout := ep.connectTimeout
	if timeout == 0 {
		timeout = c.timeout
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	h := newSSHHop(ep, forward, timeout, d.log)
	d.owned = append(d.owned, h)
	if shared {
		if c.hop.sshHops == nil {
			c.hop.sshHops = map[sshHopKey]*sshHop{}
		}
		c.hop.sshHops[key] = h
	}
	return h
}

// sshHop is one SSH server used as a hop. It keeps one SSH connection and
// opens a direct-tcpip channel on it for every dial. The connection is made
// by the first dial that needs it; when it drops, the next dial makes a new
// one, and concurrent dials wait for the same reconnect.
type sshHop struct {
	ep             *sshEndpoint
	forward        ContextDialer
	connectTimeout time.Duration
	log            *slog.Logger

	ctx    context.Context // ended by Close
	cancel context.CancelFunc

	mu      sync.Mutex
	cur     *sshConn    // the live connection, or nil
	pending *sshConnect // the connect in progress, or nil
	closed  bool
	wg      sync.WaitGroup
}

// sshConnect is a connect in progress that dials wait on.
type sshConnect struct {
	done  chan struct{}
	stage atomic.Pointer[string] // what the connect is doing, for errors
	conn  *sshConn
	err   error
}

func (p *sshConnect) setStage(s string) { p.stage.Store(&s) }

func (p *sshConnect) getStage() string {
	if s := p.stage.Load(); s != nil {
		return *s
	}
	return "connecting"
}

func newSSHHop(ep *sshEndpoint, forward ContextDialer, connectTimeout time.Duration, log *slog.Logger) *sshHop {
	ctx, cancel := context.WithCancel(context.Background())
	return &sshHop{ep: ep, forward: forward, connectTimeout: connectTimeout, log: log, ctx: ctx, cancel: cancel}
}

// DialContext opens a channel to addr through the bastion; the bastion
// resolves and connects to it. The conn supports deadlines and CloseWrite.
func (h *sshHop) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("%s: network %q not supported through SSH", h.ep, network)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, &net.AddrError{Err: "invalid port", Addr: addr}
	}
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		sc, err := h.conn(ctx)
		if err != nil {
			return nil, err
		}
		conn, err := sc.open(ctx, host, uint32(port), addr)
		if err == nil {
			return conn, nil
		}
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) {
			return nil, fmt.Errorf("%s could not connect to %s: %w", h.ep, addr, err)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: opening a channel to %s: %w", h.ep, addr, err)
		}
		// The connection failed under this dial: it is dead. Make a new
		// one, once.
		sc.kill(fmt.Errorf("opening a channel failed: %w", err))
		lastErr = err
	}
	return nil, fmt.Errorf("%s: opening a channel to %s: %w", h.ep, addr, lastErr)
}

// conn returns the live SSH connection, connecting when there is none.
func (h *sshHop) conn(ctx context.Context) (*sshConn, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if sc := h.cur; sc != nil && !sc.isDead() {
		h.mu.Unlock()
		return sc, nil
	}
	p := h.pending
	if p == nil {
		p = &sshConnect{done: make(chan struct{})}
		h.pending = p
		h.wg.Add(1)
		go h.connect(p)
	}
	h.mu.Unlock()
	select {
	case <-p.done:
		return p.conn, p.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w while %s", h.ep, ctx.Err(), p.getStage())
	}
}

// connect makes an SSH connection for everyone waiting on p. It runs on its
// own, bounded by the connect timeout, so that one dial giving up does not
// fail the others.
func (h *sshHop) connect(p *sshConnect) {
	defer h.wg.Done()
	ctx, cancel := context.WithTimeout(h.ctx, h.connectTimeout)
	defer cancel()
	start := time.Now()
	sc, err := h.handshake(ctx, p)
	h.mu.Lock()
	h.pending = nil
	if err == nil && h.closed {
		sc.kill(ErrClosed)
		sc, err = nil, ErrClosed
	}
	if err == nil {
		h.cur = sc
		h.wg.Add(2)
		go h.watch(sc)
		go h.keepalive(sc)
	}
	h.mu.Unlock()
	if err == nil {
		h.log.LogAttrs(ctx, slog.LevelInfo, "kafkadial: ssh connected",
			slog.String("hop", h.ep.String()), slog.Duration("took", time.Since(start)))
	} else {
		h.log.LogAttrs(ctx, slog.LevelWarn, "kafkadial: ssh connect failed",
			slog.String("hop", h.ep.String()), slog.Any("error", err))
	}
	p.conn, p.err = sc, err
	close(p.done)
}

// watch notices the end of a connection.
func (h *sshHop) watch(sc *sshConn) {
	defer h.wg.Done()
	err := sc.client.Wait()
	if err == nil {
		err = errors.New("closed by the server")
	}
	sc.markDead(fmt.Errorf("ssh connection to %s lost: %w", h.ep, err))
	h.mu.Lock()
	if h.cur == sc {
		h.cur = nil
	}
	closed := h.closed
	h.mu.Unlock()
	if !closed {
		h.log.LogAttrs(context.Background(), slog.LevelWarn, "kafkadial: ssh connection lost",
			slog.String("hop", h.ep.String()), slog.Any("error", sc.deathErr()))
	}
}

// keepalive sends keepalive@openssh.com every ServerAliveInterval and ends
// the connection when ServerAliveCountMax of them are unanswered, as
// OpenSSH does: connections then fail instead of hanging.
func (h *sshHop) keepalive(sc *sshConn) {
	defer h.wg.Done()
	interval, max := h.ep.aliveInterval, int32(h.ep.aliveCount)
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var unanswered atomic.Int32
	for {
		select {
		case <-sc.dead:
			return
		case <-t.C:
		}
		if unanswered.Load() >= max {
			sc.kill(fmt.Errorf("ssh connection to %s lost: %d keepalives in a row unanswered (ServerAliveInterval %s)", h.ep, max, interval))
			return
		}
		unanswered.Add(1)
		go func() {
			// Servers answer unknown global requests with a failure: any
			// answer shows the connection is alive.
			if _, _, err := sc.client.SendRequest("keepalive@openssh.com", true, nil); err == nil {
				unanswered.Store(0)
			}
		}()
	}
}

// Close ends the SSH connection (and so every conn made through it) and
// makes later dials fail with ErrClosed.
func (h *sshHop) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	sc := h.cur
	h.cur = nil
	h.mu.Unlock()
	h.cancel()
	if sc != nil {
		sc.kill(ErrClosed)
	}
	h.wg.Wait()
	return nil
}

// sshConn is one SSH connection.
type sshConn struct {
	name   string // the endpoint, for errors
	client *ssh.Client
	raw    *trackedConn
	local  net.Addr
	dead   chan struct{} // closed when the connection has ended
	once   sync.Once
	err    error // why it ended, set before dead is closed
}

func (sc *sshConn) isDead() bool {
	select {
	case <-sc.dead:
		return true
	default:
		return false
	}
}

func (sc *sshConn) markDead(err error) {
	sc.once.Do(func() {
		sc.err = err
		close(sc.dead)
	})
}

// kill ends the connection for the reason given.
func (sc *sshConn) kill(err error) {
	sc.markDead(err)
	sc.raw.fail(err)
	sc.client.Close()
}

func (sc *sshConn) deathErr() error {
	<-sc.dead
	return sc.err
}

// lost reports why the connection ended, if it has: a conn whose channel
// ends because its SSH connection failed returns this error, not io.EOF.
func (sc *sshConn) lost() error {
	if sc.isDead() {
		return sc.err
	}
	if err := sc.raw.failure(); err != nil {
		return fmt.Errorf("ssh connection to %s lost: %w", sc.name, err)
	}
	return nil
}

// directTCPIP is the payload of a direct-tcpip channel open (RFC 4254 7.2).
type directTCPIP struct {
	Host       string
	Port       uint32
	OriginHost string
	OriginPort uint32
}

// open opens a direct-tcpip channel to host:port.
func (sc *sshConn) open(ctx context.Context, host string, port uint32, addr string) (net.Conn, error) {
	type result struct {
		ch  ssh.Channel
		err error
	}
	out := make(chan result, 1)
	go func() {
		ch, reqs, err := sc.client.OpenChannel("direct-tcpip", ssh.Marshal(&directTCPIP{
			Host: host, Port: port, OriginHost: "0.0.0.0", OriginPort: 0,
		}))
		if err == nil {
			go ssh.DiscardRequests(reqs)
		}
		out <- result{ch, err}
	}()
	select {
	case r := <-out:
		if r.err != nil {
			return nil, r.err
		}
		return newChannelConn(r.ch, sc, addr), nil
	case <-ctx.Done():
		go func() {
			if r := <-out; r.ch != nil {
				r.ch.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// trackedConn is the connection an SSH connection runs over. It records
// the first error reading it gave, so that channels ending because the
// connection failed can say so instead of reporting a clean end of stream.
type trackedConn struct {
	net.Conn
	err atomic.Pointer[error]
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.fail(err)
	}
	return n, err
}

func (c *trackedConn) fail(err error) { c.err.CompareAndSwap(nil, &err) }

func (c *trackedConn) failure() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}
