package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kafkadial/kafkadial/discover"
	"github.com/kafkadial/kafkadial/resolver"
	"github.com/kafkadial/kafkadial/resolver/docker"
	"github.com/miekg/dns"
)

// dockerFlags are the flags that make a command ask the Docker engine.
type dockerFlags struct {
	on            bool
	host          string
	publishedOnly bool
}

func (f *dockerFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.on, "docker", false, "ask the Docker engine about addresses no rule matches: containers by name, alias, hostname,\ncompose service or address, at their published ports (random ones too)")
	fs.StringVar(&f.host, "docker-host", "", "the Docker engine's `ADDRESS` (implies --docker; default: DOCKER_HOST, the docker CLI's\ncurrent context, then unix:///var/run/docker.sock)")
	fs.BoolVar(&f.publishedOnly, "docker-published-only", false, "answer only with published ports, never container addresses (implies --docker)")
}

func (f *dockerFlags) enabled() bool { return f.on || f.host != "" || f.publishedOnly }

// dockerConnectTimeout bounds connecting to the engine and loading its
// containers.
const dockerConnectTimeout = 10 * time.Second

// resolver connects to the engine.
func (f *dockerFlags) resolver(ctx context.Context) (*docker.Resolver, error) {
	var opts []docker.Option
	if f.host != "" {
		opts = append(opts, docker.WithHost(f.host))
	}
	if f.publishedOnly {
		opts = append(opts, docker.WithPublishedOnly())
	}
	ctx, cancel := context.WithTimeout(ctx, dockerConnectTimeout)
	defer cancel()
	return docker.New(ctx, opts...)
}

const fromDockerSynopsis = `Usage: kafkadial rules from-docker [flags] [CONTAINER...]

Asks the Docker engine for its running containers (or the ones named),
finds every Kafka broker among them (KAFKA_ADVERTISED_LISTENERS or
KAFKA_LISTENERS in the container's environment, or bitnami's KAFKA_CFG_
forms) and prints rules that let this host reach each address they
advertise, at the host ports the engine actually publishes, random ones
included. The output is that of from-compose: comments say where each rule
comes from and what stays unreachable.

A random port changes when its container restarts: the rules are a
snapshot. kafkadial's dialer with the Docker resolver
(github.com/kafkadial/kafkadial/resolver/docker) follows the engine instead,
with no rules.

Exit status: 0 when the host reaches at least one advertised address of
every Kafka container, 1 otherwise (or when none runs), 2 when the engine
cannot be reached.
`

// dockerResult is what from-docker found: from-compose's result, with the
// engine it came from.
type dockerResult struct {
	Engine string `json:"engine"`
	*composeResult
}

func (c *cli) rulesFromDocker(ctx context.Context, args []string) int {
	var df dockerFlags
	fs := newFlagSet("rules from-docker", fromDockerSynopsis, c.stderr)
	fs.StringVar(&df.host, "docker-host", "", "the Docker engine's `ADDRESS` (default: DOCKER_HOST, the docker CLI's current context,\nthen unix:///var/run/docker.sock)")
	project := fs.String("p", "", "only containers of compose project `NAME`")
	loopback := fs.String("host", "", "the `ADDRESS` that reaches ports published on all interfaces (default: 127.0.0.1, or the\nengine's host for a remote engine)")
	asJSON := fs.Bool("json", false, "print what was found as JSON instead of a rules file")
	names, code, ok := parseFlags(fs, args, c.stdout)
	if !ok {
		return code
	}
	if h := strings.Trim(*loopback, "[]"); *loopback != "" && (h == "" || strings.Contains(h, ":") && net.ParseIP(h) == nil) {
		c.errorf("rules from-docker: --host %q: want an IP address or a host name, without a port", *loopback)
		return exitUsage
	}
	r, err := df.resolver(ctx)
	if err != nil {
		c.errorf("rules from-docker: %v", err)
		return exitUsage
	}
	defer r.Close()
	snap := r.Snapshot()
	opts := []discover.Option{discover.WithContainers(names...), discover.WithComposeProject(*project)}
	if *loopback != "" {
		opts = append(opts, discover.WithPublishedAddress(*loopback))
	}
	found, err := discover.Docker(snap, opts...)
	var nf *discover.NotFoundError
	switch {
	case errors.As(err, &nf):
		for _, n := range nf.Names {
			c.errorf("rules from-docker: no container %q on the engine at %s", n, snap.Host)
		}
		return exitProblem
	case err != nil:
		c.errorf("rules from-docker: %v", err)
		return exitUsage
	}
	res := newComposeResult(found)
	if len(res.Services) == 0 {
		where := "running on the engine at " + snap.Host
		if *project != "" {
			where += " in compose project " + *project
		}
		c.errorf("rules from-docker: no Kafka container %s (none sets KAFKA_ADVERTISED_LISTENERS, KAFKA_LISTENERS or their KAFKA_CFG_ forms)", where)
		return exitProblem
	}
	if *asJSON {
		writeJSON(c, dockerResult{Engine: snap.Host, composeResult: res})
	} else {
		var b strings.Builder
		writeComposeRules(&b, res, "from-docker", "container")
		fmt.Fprint(c.stdout, b.String())
	}
	for _, s := range res.Services {
		for _, pr := range s.Problems {
			c.errorf("rules from-docker: container %s: %s", s.Service, pr)
		}
	}
	if !res.OK {
		return exitProblem
	}
	return exitOK
}

// dockerDNS answers A and AAAA questions about container names from the
// Docker resolver, and hands every other name to next (the zone and
// forward resolver), or refuses it when there is none.
type dockerDNS struct {
	r    *docker.Resolver
	next dns.Handler // nil: none
	log  *slog.Logger
}

// dockerTTL is short: containers come and go.
const dockerTTL = 5

func (h *dockerDNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if req == nil || req.Response {
		return
	}
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 || req.Question[0].Qclass != dns.ClassINET {
		h.pass(w, req)
		return
	}
	q := req.Question[0]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := h.r.LookupHost(ctx, q.Name)
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		h.pass(w, req)
		return
	}
	resp := new(dns.Msg)
	resp.SetReply(req)
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(1232, false)
	}
	var answered []string
	if err != nil {
		resp.Rcode = dns.RcodeServerFailure
		h.log.LogAttrs(ctx, slog.LevelWarn, "docker: answering", slog.String("name", q.Name), slog.Any("error", err))
	} else {
		resp.Authoritative = true
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: dockerTTL}
		for _, a := range addrs {
			ip, perr := netip.ParseAddr(a)
			switch {
			case perr != nil:
			case ip.Is4() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
				hdr.Rrtype = dns.TypeA
				resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr, A: ip.AsSlice()})
				answered = append(answered, a)
			case ip.Is6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
				hdr.Rrtype = dns.TypeAAAA
				resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()})
				answered = append(answered, a)
			}
		}
	}
	if h.log.Enabled(ctx, slog.LevelDebug) {
		h.log.LogAttrs(ctx, slog.LevelDebug, "docker: served", slog.String("name", q.Name),
			slog.String("type", dns.TypeToString[q.Qtype]), slog.String("rcode", dns.RcodeToString[resp.Rcode]),
			slog.String("answer", strings.Join(answered, ",")), slog.String("from", "docker engine at "+h.r.Host()))
	}
	w.WriteMsg(resp)
}

func (h *dockerDNS) pass(w dns.ResponseWriter, req *dns.Msg) {
	if h.next != nil {
		h.next.ServeDNS(w, req)
		return
	}
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Rcode = dns.RcodeRefused
	if len(req.Question) == 1 && h.log.Enabled(context.Background(), slog.LevelDebug) {
		q := req.Question[0]
		h.log.LogAttrs(context.Background(), slog.LevelDebug, "docker: served", slog.String("name", q.Name),
			slog.String("type", dns.TypeToString[q.Qtype]), slog.String("rcode", "REFUSED"), slog.String("from", "no container has this name"))
	}
	w.WriteMsg(resp)
}

// serveDockerDNS serves h over UDP and TCP on addr (loopback unless
// nonLoopback) until ctx ends; it prints the same lines as dns serve.
func serveDockerDNS(ctx context.Context, h dns.Handler, addr string, nonLoopback bool, what string, stderr io.Writer) int {
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(stderr, "kafkadial dns serve: "+format+"\n", args...)
		return code
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fail(exitUsage, "--listen %q: %v", addr, err)
	}
	if host == "" || host == "localhost" {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fail(exitUsage, "--listen %q: want an IP address", addr)
	}
	if !ip.IsLoopback() && !nonLoopback {
		return fail(exitUsage, "refusing to listen on %s, which is not loopback: others could use it as a resolver (--allow-non-loopback allows it)", ip)
	}
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ; attempt++ {
		pc, err = net.ListenPacket("udp", net.JoinHostPort(ip.String(), port))
		if err != nil {
			return fail(exitProblem, "%v", err)
		}
		ln, err = net.Listen("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)))
		if err == nil {
			break
		}
		pc.Close()
		if port != "0" || !errors.Is(err, syscall.EADDRINUSE) || attempt >= 20 {
			return fail(exitProblem, "%v", err)
		}
	}
	var started sync.WaitGroup
	started.Add(2)
	servers := []*dns.Server{
		{PacketConn: pc, Handler: h, NotifyStartedFunc: started.Done},
		{Listener: ln, Handler: h, NotifyStartedFunc: started.Done},
	}
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errc <- s.ActivateAndServe() }()
	}
	started.Wait()
	fmt.Fprintf(stderr, "kafkadial dns serve: serving %s on %s (UDP and TCP); Ctrl-C stops\n", what, ln.Addr())
	start := time.Now()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		s.ShutdownContext(sctx)
	}
	if err != nil {
		return fail(exitProblem, "serving %s: %v", ln.Addr(), err)
	}
	fmt.Fprintf(stderr, "kafkadial dns serve: stopped after %s\n", time.Since(start).Round(time.Second))
	return exitOK
}

// dnsServeDocker is dns serve with --docker: container names first, then
// the zone and forward resolver zr (nil when none was given).
func dnsServeDocker(ctx context.Context, df *dockerFlags, zr *resolver.Resolver, what, listen string, nonLoopback bool, log *slog.Logger, stderr io.Writer) int {
	r, err := df.resolver(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "kafkadial dns serve: %v\n", err)
		return exitUsage
	}
	defer r.Close()
	if s := r.Snapshot(); s.PublishedOnly {
		fmt.Fprintf(stderr, "kafkadial dns serve: warning: this host cannot reach container addresses (%s): names of containers get SERVFAIL; kafkadial's dialer with the Docker resolver reaches their published ports instead\n", s.Why)
	}
	h := &dockerDNS{r: r, log: log}
	if zr != nil {
		h.next = zr
	}
	d := "container names from the docker engine at " + r.Host()
	if what != "" {
		d += "; " + what
	}
	return serveDockerDNS(ctx, h, listen, nonLoopback, d, stderr)
}
