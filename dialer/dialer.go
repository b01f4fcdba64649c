package dialer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kafkadial/kafkadial/hop"
	"github.com/kafkadial/kafkadial/rules"
)

// ContextDialer is the one method a dialer needs. *net.Dialer, *Dialer,
// golang.org/x/net/proxy's dialers and every hop satisfy it. It is the same
// interface as hop.ContextDialer.
type ContextDialer = hop.ContextDialer

// Resolver finds where an address really is, for addresses that no rule
// matched: it returns host:port candidates, best first. An address it does
// not know is an error that is a *net.DNSError with IsNotFound set.
type Resolver interface {
	Resolve(ctx context.Context, hostport string) ([]string, error)
}

// A DetailResolver is a Resolver that can also say where its answer came
// from ("docker container kafka-3 (3f2a1b9c0d11)"); Route reports it as
// Detail, and errors name it. The dialer asks ResolveDetail instead of
// Resolve when its resolver has it.
type DetailResolver interface {
	Resolver
	ResolveDetail(ctx context.Context, hostport string) (targets []string, detail string, err error)
}

func resolveOne(ctx context.Context, r Resolver, addr string) ([]string, string, error) {
	if dr, ok := r.(DetailResolver); ok {
		return dr.ResolveDetail(ctx, addr)
	}
	cands, err := r.Resolve(ctx, addr)
	return cands, "", err
}

// resolve asks the resolvers in order about addr: the first that knows it
// answers, with its candidates and detail, or with its failure. When none
// knows it, the result holds no candidates and the first resolver's
// not-found error.
func (d *Dialer) resolve(ctx context.Context, addr string) ([]string, string, error) {
	var notFound error
	for _, r := range d.resolvers {
		cands, detail, err := resolveOne(ctx, r, addr)
		switch {
		case err == nil && len(cands) > 0:
			return cands, detail, nil
		case err != nil && !resolverNotFound(err):
			return nil, detail, err
		case notFound == nil:
			notFound = err
		}
	}
	return nil, "", notFound
}

// WithResolver makes the dialer ask resolvers about every address that no
// rule matches (rules come first). Several resolvers, in one WithResolver
// or several, are asked in the order given: the first that knows the
// address answers, and Route.Detail comes from that one. An address a
// resolver does not hold (an error that is a *net.DNSError with
// IsNotFound, or no candidates) goes to the next; one that none holds is
// dialled as asked, or refused under WithStrict. Any other error from the
// resolver asked fails the dial: there is no silent fallback. The answer's
// candidates are tried in order within the dialer's timeout; TLS still
// verifies the advertised name. Route and RouteContext report a
// resolver's answer with Origin OriginResolver.
//
// Packages github.com/kafkadial/kafkadial/resolver (DNS zones and
// upstreams) and github.com/kafkadial/kafkadial/resolver/docker (a Docker
// engine's containers) provide resolvers. Default: no resolver. A nil
// resolver, or none, is an error.
func WithResolver(resolvers ...Resolver) Option {
	return func(c *config) error {
		if len(resolvers) == 0 {
			return errors.New("kafkadial: WithResolver: no resolver given")
		}
		for i, r := range resolvers {
			if r == nil {
				return fmt.Errorf("kafkadial: WithResolver: resolver %d of %d is nil", i+1, len(resolvers))
			}
		}
		c.resolvers = append(c.resolvers, resolvers...)
		return nil
	}
}

// Route explains how a dial to an address is made.
type Route struct {
	Addr   string // the address asked for, e.g. "kafka-3:29092"
	Target string // the address that will be dialled
	Via    string // the hop ("" = direct); credentials are masked
	// Rule names the rule that matched, by where it came from, e.g.
	// "rules.txt:3"; "" when no rule matched (a resolver answered, or
	// nothing did: Origin says which).
	Rule       string
	ServerName string // the TLS name that will be verified
	Origin     Origin // what chose Target
	// Detail is, for OriginResolver, what the resolver that answered said
	// about its answer when it is a DetailResolver, e.g. "docker container
	// kafka-3 (3f2a1b9c0d11)".
	Detail string
}

// Origin says what chose a Route's target.
type Origin uint8

const (
	// OriginNone: no rule matched and no resolver answered; the address
	// is dialled as asked (or refused, under WithStrict).
	OriginNone Origin = iota
	// OriginRule: a rule matched (Route.Rule names it).
	OriginRule
	// OriginResolver: a resolver given to WithResolver answered, or
	// failed.
	OriginResolver
)

func (o Origin) String() string {
	switch o {
	case OriginNone:
		return "none"
	case OriginRule:
		return "rule"
	case OriginResolver:
		return "resolver"
	}
	return "Origin(" + strconv.Itoa(int(o)) + ")"
}

// Dialer remaps the addresses Kafka brokers advertise to addresses this
// process can reach, by rules, and dials them. It is safe for concurrent use.
// Its zero value is not usable: call New.
type Dialer struct {
	table     *rules.Table
	chains    *chains
	forward   ContextDialer
	tls       *tls.Config
	strict    bool
	timeout   time.Duration
	log       *slog.Logger
	resolvers []Resolver
	closed    atomic.Bool
}

var (
	_ ContextDialer = (*Dialer)(nil)
	_ ContextDialer = (*net.Dialer)(nil)
)

// New builds a Dialer. Bad rules are reported as a *RuleError naming the
// source, line and column.
func New(opts ...Option) (*Dialer, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	var rs []*rules.Rule
	for _, s := range c.sources {
		text, err := s.load()
		if err != nil {
			return nil, fmt.Errorf("kafkadial: %w", err)
		}
		parsed, errs := rules.Parse(s.name, text)
		if len(errs) > 0 {
			return nil, errs[0]
		}
		rs = append(rs, parsed...)
	}
	d := &Dialer{
		table:     rules.NewTable(rs),
		forward:   c.forward,
		tls:       c.tls,
		strict:    c.strict,
		timeout:   c.timeout,
		log:       c.logger,
		resolvers: c.resolvers,
	}
	if d.forward == nil {
		d.forward = &net.Dialer{}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	var first error
	d.chains = buildChains(c, rs, d.forward, func(r *rules.Rule, h rules.Hop, err error) bool {
		first = &RuleError{Source: r.File(), Line: r.Line(), Col: h.Col, Err: err}
		return false
	})
	if first != nil {
		d.chains.Close()
		return nil, first
	}
	return d, nil
}

// Close releases what the dialer built itself: the ssh Builder it made for
// ssh:// hops when WithScheme gave none, and so that builder's SSH
// connections. Builders given to WithScheme, hops given to WithVia and the
// forward dialer are the caller's, and stay open (as an http.Client never
// closes a Transport it was given); close them once every dialer using
// them is done. Dials after Close fail with ErrClosed.
func (d *Dialer) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	return d.chains.Close()
}

// TLSConfig returns the config given to WithTLS, or nil.
func (d *Dialer) TLSConfig() *tls.Config { return d.tls }

// Route explains a dial to addr (host:port) without dialling. When no rule
// matches and the dialer has resolvers (WithResolver), they are asked in
// order, within the dialer's timeout: Route then reports the first
// candidate of the one that answered as Target, with Origin OriginResolver
// and its Detail. Use RouteContext to bound or cancel that lookup yourself.
func (d *Dialer) Route(addr string) (Route, error) {
	return d.RouteContext(context.Background(), addr)
}

// RouteContext is Route with a context for the resolvers' lookup, bounded
// by whichever of ctx and the dialer's timeout ends first. A name no
// resolver holds routes as it would without them; any other resolver
// failure is returned.
func (d *Dialer) RouteContext(ctx context.Context, addr string) (Route, error) {
	var rt Route
	rule, err := d.route(addr, &rt)
	if err != nil || rule >= 0 || len(d.resolvers) == 0 {
		return rt, err
	}
	if d.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	cands, detail, err := d.resolve(ctx, addr)
	switch {
	case err != nil && !resolverNotFound(err):
		rt.setResolver(detail)
		return rt, fmt.Errorf("resolver: %w", err)
	case err == nil && len(cands) > 0:
		rt.setResolver(detail)
		rt.Target = cands[0]
	}
	return rt, nil
}

func (rt *Route) setResolver(detail string) {
	rt.Origin, rt.Detail = OriginResolver, detail
}

// resolverNotFound reports whether a resolver said it does not hold a name
// (a *net.DNSError with IsNotFound), as opposed to failing.
func resolverNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// route fills rt with where a dial to addr goes by the rules, without the
// resolver, and returns the index of the rule that matched, -1 for none.
// (rt is filled in place: a Route returned by value through two calls cost
// more than the lookup, BENCHMARKS.md.)
func (d *Dialer) route(addr string, rt *Route) (int, error) {
	m, err := d.table.Match(addr)
	if err != nil && m.Rule == nil {
		return -1, err
	}
	*rt = Route{Addr: addr, Target: addr, ServerName: strings.TrimSuffix(m.Host, ".")}
	if m.Rule == nil {
		return -1, nil
	}
	rt.Origin, rt.Rule = OriginRule, m.Rule.Source()
	rt.Via = d.chains.byIndex[m.Index].shown
	if err != nil {
		return m.Index, err
	}
	rt.Target = m.Target
	return m.Index, nil
}

// Dial is DialContext with a background context. It makes *Dialer a
// golang.org/x/net/proxy.Dialer, the type of sarama's Net.Proxy.Dialer.
func (d *Dialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

// DialContext connects to the address that addr is remapped to, through the
// rule's hops, and performs TLS when the dialer has a TLS config. Networks
// other than tcp, tcp4 and tcp6 pass through to the forward dialer
// untouched. A failed dial returns a *net.OpError with Op "dial" whose Err is
// a *DialError.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.dial(ctx, network, addr, d.tls)
}

// Plain returns a dialer that remaps and dials as d does but leaves TLS to
// its caller: the hook for clients that layer TLS themselves on whatever
// their dialer returns (sarama, kafka-go), so that no connection gets TLS
// twice.
func (d *Dialer) Plain() ContextDialer { return plain{d} }

type plain struct{ d *Dialer }

func (p plain) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return p.d.dial(ctx, network, addr, nil)
}

func (d *Dialer) dial(ctx context.Context, network, addr string, tlsConfig *tls.Config) (net.Conn, error) {
	if d.closed.Load() {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: advertised(addr), Err: ErrClosed}
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return d.forward.DialContext(ctx, network, addr)
	}
	var rt Route
	rule, err := d.route(addr, &rt)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: advertised(addr), Err: err}
	}
	if rule < 0 && d.strict && len(d.resolvers) == 0 {
		d.log.LogAttrs(ctx, slog.LevelWarn, "kafkadial: no rule matches (strict)", slog.String("addr", addr))
		return nil, &net.OpError{Op: "dial", Net: network, Addr: advertised(addr), Err: &DialError{Route: rt, Err: ErrNoRoute}}
	}
	// ours is the deadline the dialer's own timeout sets, when it is earlier
	// than the caller's: an error after it says which bound expired.
	var ours time.Time
	if d.timeout > 0 {
		ours = time.Now().Add(d.timeout)
		if dl, ok := ctx.Deadline(); ok && !dl.After(ours) {
			ours = time.Time{}
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	var hop ContextDialer = d.forward
	if rule >= 0 && d.chains.byIndex[rule].dialer != nil {
		hop = d.chains.byIndex[rule].dialer
	}

	var conn net.Conn
	if rule < 0 && len(d.resolvers) > 0 {
		conn, rt, err = d.dialResolved(ctx, network, rt)
	} else {
		conn, err = hop.DialContext(ctx, network, rt.Target)
	}
	if err == nil && tlsConfig != nil {
		conn, err = handshake(ctx, conn, tlsConfig, rt.ServerName)
	}
	if err != nil {
		return nil, d.dialError(ctx, network, rt, err, ours)
	}
	if d.log.Enabled(ctx, slog.LevelDebug) {
		d.log.LogAttrs(ctx, slog.LevelDebug, "kafkadial: dialled",
			slog.String("addr", rt.Addr), slog.String("target", rt.Target),
			slog.String("origin", rt.Origin.String()), slog.String("rule", rt.Rule),
			slog.String("detail", rt.Detail), slog.String("via", rt.Via))
	}
	return conn, nil
}

// dialResolved asks the resolvers where rt.Addr is and tries each candidate
// of the one that answered in order. A name no resolver holds (a
// *net.DNSError with IsNotFound) is dialled as asked, or refused under
// WithStrict; any other resolver failure (an upstream timing out) fails
// the dial, with no silent fallback to the system resolver.
func (d *Dialer) dialResolved(ctx context.Context, network string, rt Route) (net.Conn, Route, error) {
	cands, detail, err := d.resolve(ctx, rt.Addr)
	if err != nil && !resolverNotFound(err) {
		rt.setResolver(detail)
		return nil, rt, err
	}
	if len(cands) == 0 {
		if d.strict {
			return nil, rt, ErrNoRoute
		}
		// The resolver does not know the name: dial as asked.
		conn, derr := d.forward.DialContext(ctx, network, rt.Addr)
		// The resolver's not-found is context, not the cause: wrapped, it
		// would make franz-go take the failure for a permanent DNS miss.
		if derr != nil && err != nil {
			derr = fmt.Errorf("%w (resolver: %v)", derr, err)
		}
		return conn, rt, derr
	}
	rt.setResolver(detail)
	var errs []error
	for _, c := range cands {
		rt.Target = c
		conn, err := d.forward.DialContext(ctx, network, c)
		if err == nil {
			return conn, rt, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	rt.Target = strings.Join(cands, ",")
	return nil, rt, errors.Join(errs...)
}

func handshake(ctx context.Context, conn net.Conn, cfg *tls.Config, serverName string) (net.Conn, error) {
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = serverName
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("tls handshake (verifying %q): %w", cfg.ServerName, err)
	}
	return tc, nil
}

func (d *Dialer) dialError(ctx context.Context, network string, rt Route, err error, ours time.Time) error {
	// Keep the cause, not the forward dialer's repetition of "dial tcp X";
	// a hop's own explanation around a nested OpError stays.
	if oe, ok := err.(*net.OpError); ok && oe.Op == "dial" {
		err = oe.Err
	}
	de := &DialError{Route: rt, Err: err}
	// The dialer's own deadline expired if it has passed and the error is a
	// timeout: ctx.Err() may not be set yet when a socket deadline at the
	// same instant fires first.
	if !ours.IsZero() && !time.Now().Before(ours) && isTimeout(err) {
		de.DialerTimeout = d.timeout
	}
	d.log.LogAttrs(ctx, slog.LevelWarn, "kafkadial: dial failed",
		slog.String("addr", rt.Addr), slog.String("target", rt.Target),
		slog.String("origin", rt.Origin.String()), slog.String("rule", rt.Rule),
		slog.String("detail", rt.Detail), slog.String("via", rt.Via), slog.Any("error", err))
	return &net.OpError{Op: "dial", Net: network, Addr: advertised(rt.Addr), Err: de}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout()
}

// advertised is a net.Addr for the address a client asked for.
type advertised string

func (a advertised) Network() string { return "tcp" }
func (a advertised) String() string  { return string(a) }
