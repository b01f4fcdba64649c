package ssh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/kafkadial/kafkadial/hop"
	"github.com/kafkadial/kafkadial/internal/netx"
)

// DefaultConnectTimeout bounds an SSH connect (TCP, handshake and
// authentication) when WithTimeout gives no other bound.
const DefaultConnectTimeout = 10 * time.Second

// ErrClosed is returned by dials through a hop after it was closed, and by
// a Builder's Build after the Builder was closed. It matches net.ErrClosed
// with errors.Is.
var ErrClosed error = &closedError{"kafkadial: ssh hop closed"}

// closedError is an ErrClosed that errors.Is matches with net.ErrClosed.
type closedError struct{ msg string }

func (e *closedError) Error() string        { return e.msg }
func (e *closedError) Is(target error) bool { return target == net.ErrClosed }

// An Option configures a Builder or a hop made by New. A nil Option is
// ignored. The order of options never matters: each sets one value, and
// one given again with a different value (WithTimeout(time.Second) and
// WithTimeout(2*time.Second), say) would make the order decide, so it is
// an error naming the option; the same value again is no conflict. Values
// that cannot be compared (WithGetenv's functions) are never the same
// value. New, and every Build of a Builder made by NewBuilder, report a
// bad option, or one given twice, with an error naming it.
type Option func(*options)

type options struct {
	configSet  bool   // WithConfigFile was given
	configPath string // its path; "" = read no ssh_config
	getenv     func(string) string
	timeout    time.Duration
	log        *slog.Logger

	given map[string]any // options given, by name, with their value
	err   error          // the first option given twice with different values
}

// setOnce records the value of an option and reports whether to apply it.
// Giving it again with another value records an error, which newOptions
// returns: with two values, the order of the options would decide.
func (o *options) setOnce(name string, v any) bool {
	if old, ok := o.given[name]; ok {
		if !sameValue(old, v) && o.err == nil {
			o.err = fmt.Errorf("ssh: %s given twice with different values: options apply in any order, so give it once", name)
		}
		return false
	}
	if o.given == nil {
		o.given = map[string]any{}
	}
	o.given[name] = v
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

// WithConfigFile reads the OpenSSH client configuration in path instead of
// the default ~/.ssh/config and /etc/ssh/ssh_config, as `ssh -F path` does.
// An empty path reads no file. Default: the two default files, each read
// when it exists.
func WithConfigFile(path string) Option {
	return func(o *options) {
		if o.setOnce("WithConfigFile", path) {
			o.configSet, o.configPath = true, path
		}
	}
}

// WithGetenv reads HOME, SSH_AUTH_SOCK and the ${VAR}s of ssh_config
// through getenv. Default (and with nil): os.Getenv.
func WithGetenv(getenv func(string) string) Option {
	return func(o *options) {
		if o.setOnce("WithGetenv", getenv) {
			o.getenv = getenv
		}
	}
}

// WithTimeout is an upper bound on an SSH connect (TCP or ProxyCommand,
// handshake and authentication): the connect fails when it passes, or
// when the dial's context ends, whichever comes first. ssh_config's
// ConnectTimeout for a host, when set, may only shorten it. Default (and
// with 0): DefaultConnectTimeout. A negative d is an error.
//
// The connect is shared by the dials waiting for it: a dial that gives up
// leaves it running for the others, each of which honours its own
// context.
func WithTimeout(d time.Duration) Option {
	return func(o *options) {
		if o.setOnce("WithTimeout", d) {
			o.timeout = d
		}
	}
}

// WithLogger sets the logger for connects and lost connections (Info and
// Warn). Default (and with nil): discard. Credentials never reach it.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if o.setOnce("WithLogger", l) {
			o.log = l
		}
	}
}

func newOptions(opts []Option) (options, error) {
	var o options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	if o.err != nil {
		return o, o.err
	}
	if o.timeout < 0 {
		return o, fmt.Errorf("ssh: WithTimeout: negative duration %s", o.timeout)
	}
	if o.getenv == nil {
		o.getenv = os.Getenv
	}
	if o.timeout == 0 {
		o.timeout = DefaultConnectTimeout
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// New returns a hop through the SSH server that rawURL names
// (ssh://[user[:password]@]host[:port], where host may be a Host alias of
// ssh_config), reached through forward, with its ProxyJump chain. Close it
// to end its connections.
func New(rawURL string, forward hop.ContextDialer, opts ...Option) (*Hop, error) {
	u, err := hop.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	b := NewBuilder(opts...)
	if b.optErr != nil {
		return nil, b.optErr
	}
	d, err := b.Build(hop.Request{URL: u, Forward: forward})
	if err != nil {
		b.Close()
		return nil, err
	}
	h := d.(*Hop)
	h.owner = b
	return h, nil
}

// A Builder builds ssh:// hops for a dialer, reading ssh_config once and
// sharing one SSH connection among every rule that reaches the same
// user@host:port through the same chain of hops and forward dialer.
//
// The Builder owns the hops it builds: Close ends them all, and nothing
// else does. A dialer given the Builder with dialer.WithScheme never closes
// it nor its hops (a dialer closes only the Builder it made itself for
// ssh:// when it was given none), so one Builder can serve dialer.Check and
// dialer.New, or several dialers, and the caller closes it once they are
// done. Build never returns a closed hop: a hop someone else closed is
// built anew, and after Close, Build fails with ErrClosed.
type Builder struct {
	opts   options
	optErr error // a bad option, reported by Build

	mu       sync.Mutex
	settings *sshSettings
	hops     map[hopKey]*Hop
	owned    []*Hop
	closed   bool
}

var _ hop.Builder = (*Builder)(nil)

// hopKey identifies one SSH connection of a Builder.
type hopKey struct {
	from       origin
	user, addr string
	password   string
}

// origin is what a hop is reached through: another hop of the same
// Builder, or else the forward dialer of the request and the chain of hops
// a rule wrote before it.
type origin struct {
	via     *Hop
	forward any // dialerKey of the request's Forward
	chain   string
}

// NewBuilder returns a Builder. It reads no file until the first Build; a
// bad option (see Option) fails every Build with an error naming it.
func NewBuilder(opts ...Option) *Builder {
	o, err := newOptions(opts)
	return &Builder{opts: o, optErr: err, hops: map[hopKey]*Hop{}}
}

// dialerKey returns a map key standing for forward: the dialer itself when
// it can be compared, the pointer under a func, map or slice one, else a
// key of its own (so such a dialer shares no hop).
func dialerKey(forward hop.ContextDialer) any {
	v := reflect.ValueOf(forward)
	if !v.IsValid() || v.Comparable() {
		return forward
	}
	switch v.Kind() {
	case reflect.Func, reflect.Map, reflect.Slice:
		return struct {
			t reflect.Type
			p uintptr
		}{v.Type(), v.Pointer()}
	}
	return new(byte)
}

// Build returns the hop for an ssh:// URL: the endpoint's ProxyJump chain
// (when this is the first hop of the chain; a later hop is reached through
// the hops before it, as `ssh -J` overrides ProxyJump), then the endpoint
// itself.
func (b *Builder) Build(req hop.Request) (hop.ContextDialer, error) {
	if b.optErr != nil {
		return nil, b.optErr
	}
	if err := hop.CheckRequest(req.URL, req.Forward, "ssh"); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if b.settings == nil {
		s, err := newSettings(b.opts)
		if err != nil {
			return nil, err
		}
		b.settings = s
	}
	ep, err := b.settings.endpoint(req.URL, req.First())
	if err != nil {
		return nil, err
	}
	// Hops are shared by what reaches them: a hop of this Builder, or
	// else the same forward dialer and chain written before it (dialers
	// sharing the Builder, and dialer.Check, pass forward dialers of their
	// own).
	from := origin{forward: dialerKey(req.Forward), chain: req.Chain}
	if h, ok := req.Forward.(*Hop); ok && h.builder == b {
		from = origin{via: h}
	}
	fwd := req.Forward
	for _, j := range ep.jumps {
		h := b.hopFor(from, j, fwd)
		fwd, from = h, origin{via: h}
	}
	return b.hopFor(from, ep, fwd), nil
}

func (b *Builder) hopFor(from origin, ep *sshEndpoint, forward hop.ContextDialer) *Hop {
	key := hopKey{from: from, user: ep.user, addr: ep.addr(), password: ep.password}
	if h, ok := b.hops[key]; ok && !h.isClosed() {
		return h
	}
	// A hop closed by someone else is built anew: Build never hands out a
	// closed one.
	timeout := b.opts.timeout
	if ep.connectTimeout > 0 && ep.connectTimeout < timeout {
		timeout = ep.connectTimeout // ssh_config may only shorten it
	}
	h := newHop(ep, forward, timeout, b.opts.log)
	h.builder = b
	b.hops[key] = h
	b.owned = append(b.owned, h)
	return h
}

// Close ends every connection of the hops b built; dials through them then
// fail with ErrClosed, and so does Build. Call it once every dialer given
// b is done: they do not close it.
func (b *Builder) Close() error {
	b.mu.Lock()
	owned := b.owned
	b.owned, b.closed = nil, true
	b.mu.Unlock()
	for i := len(owned) - 1; i >= 0; i-- {
		owned[i].Close()
	}
	return nil
}

// Hop is one SSH server used as a hop. It keeps one SSH connection and
// opens a direct-tcpip channel on it for every dial. The connection is made
// by the first dial that needs it; when it drops, the next dial makes a new
// one, and concurrent dials wait for the same reconnect.
type Hop struct {
	ep             *sshEndpoint
	forward        hop.ContextDialer
	builder        *Builder // the Builder that made it
	owner          *Builder // the Builder that New made for this hop alone
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

func newHop(ep *sshEndpoint, forward hop.ContextDialer, connectTimeout time.Duration, log *slog.Logger) *Hop {
	ctx, cancel := context.WithCancel(context.Background())
	return &Hop{ep: ep, forward: forward, connectTimeout: connectTimeout, log: log, ctx: ctx, cancel: cancel}
}

// DialContext opens a channel to addr through the bastion; the bastion
// resolves and connects to it. The conn supports deadlines and CloseWrite.
func (h *Hop) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
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
		var oce *gossh.OpenChannelError
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
func (h *Hop) conn(ctx context.Context) (*sshConn, error) {
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
func (h *Hop) connect(p *sshConnect) {
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
func (h *Hop) watch(sc *sshConn) {
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
func (h *Hop) keepalive(sc *sshConn) {
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

func (h *Hop) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// Close ends the SSH connection (and so every conn made through it) and
// makes later dials fail with ErrClosed. A hop made by New also closes the
// hops of its ProxyJump chain. A hop a Builder made is the Builder's to
// close; closing it anyway makes the Builder build a new one next time.
func (h *Hop) Close() error {
	if h.owner != nil {
		defer h.owner.Close()
	}
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
	client *gossh.Client
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
		ch  gossh.Channel
		err error
	}
	out := make(chan result, 1)
	go func() {
		ch, reqs, err := sc.client.OpenChannel("direct-tcpip", gossh.Marshal(&directTCPIP{
			Host: host, Port: port, OriginHost: "0.0.0.0", OriginPort: 0,
		}))
		if err == nil {
			go gossh.DiscardRequests(reqs)
		}
		out <- result{ch, err}
	}()
	select {
	case r := <-out:
		if r.err != nil {
			return nil, r.err
		}
		return newChannelConn(r.ch, sc.local, netx.AddrOf(addr), sc.lost), nil
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
