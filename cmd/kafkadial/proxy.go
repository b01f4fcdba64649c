package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/hop/ssh"
	"github.com/kafkadial/kafkadial/proxy"
)

const proxySynopsis = `Usage: kafkadial proxy --bootstrap ADDR [flags]

Serves the Kafka cluster whose bootstrap broker is ADDR to any client
(kcat, Java, Python, JavaScript, GUIs) on local listeners, and reaches the
brokers through kafkadial: rules (--rules, KAFKADIAL_RULES,
KAFKADIAL_RULES_FILE), the embedded resolver (--zone), the Docker engine
(--docker) and the hops rules name (ssh://, socks5://, http://, k8s://).

Clients bootstrap from the --listen address. Every response that names a
broker names the proxy's listener for that broker instead: Metadata,
FindCoordinator, DescribeCluster, the NodeEndpoints of Produce (v10+),
Fetch (v16+), ShareFetch and ShareAcknowledge. ApiVersions is capped at
the versions the proxy can rewrite, so a newer broker never leads a client
into a version the proxy cannot read. Everything else passes byte for
byte: SASL (PLAIN, SCRAM, OAUTHBEARER, re-authentication) included, except
the unframed tokens of SaslHandshake v0, which are not supported.

Ports: the bootstrap listener is --listen (default 127.0.0.1:9092); node N
listens on the same host at port BASE+N, BASE being --port-base (default
the listen port + 1: node 0 on 9093, node 1 on 9094, ...). The same flags
give every node the same port after a restart and on every machine, so
clients that cache broker addresses by node id carry on. A port in use is
an error naming the node at start, and a log line for a broker that appears
later; a node never moves to another port. --listen HOST:0 lets the system
pick every port (for tests: not stable across restarts).

Output: the bootstrap listener, then one line per broker, on stdout:

  bootstrap on 127.0.0.1:9092 for kafka-0.kafka:9092 => 127.0.0.1:30001 (rule kafka.rules:1)
  node 0 on 127.0.0.1:9093 for kafka-0.kafka:9092 => 127.0.0.1:30001 (rule kafka.rules:1)
  node 1 on 127.0.0.1:9094 for kafka-1.kafka:9092 => kafka-1.kafka:9092 via ssh://bastion (rule kafka.rules:2)

that is: node id, local address, advertised address, and its route
(target, hop, rule), as "kafkadial rules explain" shows it. Brokers that
appear later get a line when their listener opens. Logs go to stderr; -v
adds a line per connection (client, node, route).

Signals: SIGINT and SIGTERM close every listener and connection, then
kafkadial exits 0. SIGHUP rereads the rules files (--rules and
KAFKADIAL_RULES_FILE): new connections to the brokers follow the new rules,
open ones stay as they are, and the listener lines are printed again with
their new routes. A file with an error keeps the rules in force and logs
the error as FILE:LINE:COL.

TLS: --tls speaks TLS to the brokers, verifying each certificate against
the broker's advertised name (or --tls-server-name), as probe does.
Clients speak plaintext to the proxy unless --listen-cert and --listen-key
give it a certificate, which must name the address clients dial (an IP SAN
127.0.0.1, say).

Exit status: 0 after SIGINT or SIGTERM, 1 when the proxy cannot start (a
port in use, the bootstrap broker unreachable), 2 for bad flags or rules.
`

type proxyFlags struct {
	rules      ruleFlags // flags.go
	tls        tlsFlags  // flags.go
	bootstrap  string
	listen     string
	portBase   int
	listenCert string
	listenKey  string
	maxFrame   byteSize
	timeout    time.Duration
	verbose    bool
}

func (c *cli) proxy(ctx context.Context, args []string) int {
	f := proxyFlags{maxFrame: proxy.DefaultMaxFrame}
	fs := newFlagSet("proxy", proxySynopsis, c.stderr)
	fs.StringVar(&f.bootstrap, "bootstrap", "", "the bootstrap broker's `ADDR` host:port (port 9092 if omitted), dialled through the rules")
	fs.StringVar(&f.listen, "listen", proxy.DefaultListen, "the bootstrap listener's `HOST:PORT`; brokers listen on the same host")
	fs.IntVar(&f.portBase, "port-base", 0, "node N listens on port `BASE`+N (default: the listen port + 1)")
	f.rules.register(fs)
	f.tls.register(fs)
	fs.StringVar(&f.listenCert, "listen-cert", "", "serve TLS to clients with the PEM certificate chain in `FILE` (with --listen-key)")
	fs.StringVar(&f.listenKey, "listen-key", "", "the PEM private key of --listen-cert, in `FILE`")
	fs.Var(&f.maxFrame, "max-frame", "bound each request and response frame by `SIZE` (bytes, or with KiB, MiB, GiB)")
	fs.DurationVar(&f.timeout, "timeout", proxy.DefaultTimeout, "bound each dial to a broker, its TLS handshake and the start's metadata request by `DURATION`")
	fs.BoolVar(&f.verbose, "v", false, "log every connection: client, node and route")
	pos, code, ok := parseFlags(fs, args, c.stdout)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		c.errorf("proxy: unexpected argument %q (the bootstrap address goes after --bootstrap)", pos[0])
		return exitUsage
	}
	// SIGHUP is caught from here on: its default would end the process.
	hup := c.sighup
	if hup == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGHUP)
		defer signal.Stop(ch)
		hup = ch
	}
	s, err := c.newProxyServer(&f)
	defer f.rules.close()
	if err != nil {
		c.errorf("proxy: %v", err)
		return exitUsage
	}
	defer s.close()
	return s.run(ctx, hup)
}

// proxyServer is one run of kafkadial proxy.
type proxyServer struct {
	c     *cli
	f     *proxyFlags
	p     *proxy.Proxy
	d     *swapDialer
	opts  []dialer.Option // what builds a dialer again on SIGHUP
	sshb  *ssh.Builder    // shared by every dialer, so a reload keeps SSH connections
	log   *slog.Logger
	outMu sync.Mutex // stdout lines come from the proxy's goroutines too
	// routes bounds the route lookups of printed lines: run's context,
	// for lines printed from the proxy's callback too.
	routes context.Context
}

func (c *cli) newProxyServer(f *proxyFlags) (*proxyServer, error) {
	if f.bootstrap == "" {
		return nil, errors.New("--bootstrap is required (e.g. --bootstrap kafka-0.kafka:9092)")
	}
	boot := splitAddrs([]string{f.bootstrap})
	if len(boot) != 1 {
		return nil, fmt.Errorf("--bootstrap %q: give one host:port", f.bootstrap)
	}
	if f.timeout <= 0 {
		return nil, fmt.Errorf("--timeout must be positive, not %s", f.timeout)
	}
	if (f.listenCert == "") != (f.listenKey == "") {
		return nil, errors.New("--listen-cert and --listen-key go together")
	}
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	s := &proxyServer{
		c:      c,
		f:      f,
		log:    slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level})),
		routes: context.Background(),
	}
	brokerTLS, err := f.tls.config()
	if err != nil {
		return nil, err
	}
	opts, err := f.rules.options(c.getenv)
	if err != nil {
		return nil, err
	}
	s.sshb = ssh.NewBuilder(ssh.WithGetenv(c.getenv), ssh.WithTimeout(f.timeout))
	opts = append(opts,
		dialer.WithScheme("ssh", s.sshb),
		dialer.WithForward(&directDialer{Dialer: net.Dialer{Resolver: c.resolver}}),
		dialer.WithTimeout(f.timeout))
	if brokerTLS != nil {
		opts = append(opts, dialer.WithTLS(brokerTLS))
	}
	if f.verbose {
		// The dialer's Debug line says how each connection went: target,
		// rule, hop.
		opts = append(opts, dialer.WithLogger(s.log))
	}
	s.opts = opts
	d, err := dialer.New(opts...)
	if err != nil {
		s.sshb.Close()
		return nil, err
	}
	s.d = &swapDialer{}
	s.d.cur.Store(d)

	popts := []proxy.Option{
		proxy.WithListen(f.listen),
		proxy.WithMaxFrame(int(f.maxFrame)),
		proxy.WithTimeout(f.timeout),
		proxy.WithLogger(s.log),
		proxy.WithOnListen(func(l proxy.Listener) { s.printListener(l) }),
	}
	if f.portBase != 0 {
		popts = append(popts, proxy.WithPortBase(f.portBase))
	}
	if f.listenCert != "" {
		cert, err := tls.LoadX509KeyPair(f.listenCert, f.listenKey)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("--listen-cert/--listen-key: %w", err)
		}
		popts = append(popts, proxy.WithTLS(&tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}))
	}
	p, err := proxy.New(boot[0], s.d, popts...)
	if err != nil {
		s.close()
		return nil, errors.New(optionFlags.Replace(strings.TrimPrefix(err.Error(), "proxy: ")))
	}
	s.p = p
	return s, nil
}

// close releases the dialer and the SSH connections (the proxy is closed
// by Serve).
func (s *proxyServer) close() {
	if s.p != nil {
		s.p.Close()
	}
	if s.d != nil {
		s.d.cur.Load().Close()
	}
	if s.sshb != nil {
		s.sshb.Close()
	}
}

// run starts the proxy, prints its listeners and serves until ctx ends,
// rereading the rules on every value from hup.
func (s *proxyServer) run(ctx context.Context, hup <-chan os.Signal) int {
	s.routes = ctx
	if err := s.p.Start(ctx); err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return exitOK // stopped while starting
		}
		s.c.errorf("proxy: %s", strings.TrimPrefix(err.Error(), "proxy: "))
		if h := startHint(err); h != "" {
			fmt.Fprintf(s.c.stderr, "  hint: %s\n", h)
		}
		return exitProblem
	}
	ls := s.p.Listeners()
	for _, l := range ls {
		s.printListener(l)
	}
	s.log.Info("kafkadial proxy: serving; SIGHUP rereads the rules, SIGINT or SIGTERM stops",
		slog.String("bootstrap", ls[0].Local), slog.Int("brokers", len(ls)-1))

	done := make(chan error, 1)
	go func() { done <- s.p.Serve(ctx) }()
	for {
		select {
		case err := <-done:
			if err != nil {
				s.c.errorf("proxy: %s", strings.TrimPrefix(err.Error(), "proxy: "))
				return exitProblem
			}
			s.log.Info("kafkadial proxy: stopped")
			return exitOK
		case <-hup:
			s.reload()
		}
	}
}

// reload builds a dialer from the rules files as they are now and makes
// it the one new connections use. The dialer it replaces is closed: a dial
// it had under way is made again with the new one (swapDialer); the
// connections it made stay open, their hops being the builders' (the
// shared SSH builder, the kube builder), not the dialer's.
func (s *proxyServer) reload() {
	d, err := dialer.New(s.opts...)
	if err != nil {
		s.log.Error("kafkadial proxy: reload failed, the rules in force stay", slog.String("error", err.Error()))
		return
	}
	old := s.d.cur.Swap(d)
	old.Close()
	s.log.Info("kafkadial proxy: rules reloaded; new connections follow them", slog.String("sources", s.ruleSources()))
	for _, l := range s.p.Listeners() {
		s.printListener(l)
	}
}

// ruleSources names what a reload reread.
func (s *proxyServer) ruleSources() string {
	src := append([]string(nil), s.f.rules.files...)
	if !s.f.rules.noEnv {
		if v := s.c.getenv("KAFKADIAL_RULES_FILE"); v != "" {
			src = append(src, v)
		}
	}
	if len(src) == 0 {
		return "(no rules file)"
	}
	return strings.Join(src, ",")
}

// printListener prints one listener with its route.
func (s *proxyServer) printListener(l proxy.Listener) {
	ctx, cancel := context.WithTimeout(s.routes, s.f.timeout)
	defer cancel()
	rt, err := s.d.cur.Load().RouteContext(ctx, l.Advertised)
	line := listenerLine(l, routeText(shownRoute(rt), err, s.f.rules.strict))
	s.outMu.Lock()
	defer s.outMu.Unlock()
	fmt.Fprintln(s.c.stdout, line)
}

// listenerLine is "bootstrap on LOCAL for ADDR ROUTE" or "node N on LOCAL
// for ADDR ROUTE".
func listenerLine(l proxy.Listener, route string) string {
	who := "bootstrap"
	if l.NodeID >= 0 {
		who = "node " + strconv.Itoa(int(l.NodeID))
	}
	return fmt.Sprintf("%s on %s for %s %s", who, l.Local, l.Advertised, route)
}

// routeText says where a dial to an address goes: "=> TARGET via HOP
// (rule R)", or for an address a resolver answers "=> TARGET (DETAIL)".
func routeText(rt dialer.Route, err error, strict bool) string {
	switch {
	case err != nil:
		return "(no route: " + err.Error() + ")"
	case rt.Origin == dialer.OriginNone && strict:
		return "(no rule matches: refused under --strict)"
	case rt.Origin == dialer.OriginNone:
		return "(no rule: dialled as is)"
	}
	var b strings.Builder
	b.WriteString("=> " + rt.Target)
	if rt.Via != "" {
		b.WriteString(" via " + rt.Via)
	}
	switch {
	case rt.Rule != "":
		b.WriteString(" (rule " + rt.Rule + ")")
	case rt.Detail != "":
		b.WriteString(" (" + rt.Detail + ")")
	default:
		b.WriteString(" (resolver)")
	}
	return b.String()
}

// optionFlags names, in the proxy's errors, the flag that set an option.
var optionFlags = strings.NewReplacer(
	"WithListen", "--listen",
	"WithPortBase", "--port-base",
	"WithMaxFrame", "--max-frame",
	"WithTimeout", "--timeout",
	"WithTLS", "--listen-cert",
)

// startHint says what to do about an error of Start.
func startHint(err error) string {
	var le *proxy.ListenError
	if errors.As(err, &le) {
		if errors.Is(le.Err, syscall.EADDRINUSE) {
			return "another process (another kafkadial proxy?) holds " + le.Addr + ": stop it, or choose other ports with --listen and --port-base"
		}
		return "choose another address with --listen (and --port-base)"
	}
	var de *dialer.DialError
	if errors.As(err, &de) {
		return "see why with: kafkadial probe --bootstrap " + de.Route.Addr + " (same rule flags)"
	}
	return ""
}

// swapDialer is the ContextDialer the proxy is given: it dials with the
// dialer in force, which a SIGHUP swaps.
type swapDialer struct {
	cur atomic.Pointer[dialer.Dialer]
}

func (s *swapDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	for i := 0; ; i++ {
		d := s.cur.Load()
		conn, err := d.DialContext(ctx, network, addr)
		// A reload closed d while this dial was under way: dial again
		// with the new one (a few reloads in a row at most).
		if err != nil && i < 3 && errors.Is(err, net.ErrClosed) && s.cur.Load() != d {
			continue
		}
		return conn, err
	}
}

// byteSize is a flag holding a number of bytes: "1048576", "512KiB",
// "100MiB", "1GiB".
type byteSize int

func (b *byteSize) String() string {
	switch n := int(*b); {
	case n > 0 && n%(1<<30) == 0:
		return strconv.Itoa(n>>30) + "GiB"
	case n > 0 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "MiB"
	case n > 0 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(int(*b))
}

func (b *byteSize) Set(v string) error {
	num, mult := v, 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			num, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 32)
	if err != nil || n <= 0 || n*int64(mult) > 1<<31-1 {
		return fmt.Errorf("want a positive size below 2GiB, such as 1048576, 512KiB or 100MiB")
	}
	*b = byteSize(n * int64(mult))
	return nil
}
