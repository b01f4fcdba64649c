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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
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
	p, random, missing := dockerProject(snap, names, *project)
	for _, n := range missing {
		c.errorf("rules from-docker: no container %q on the engine at %s", n, snap.Host)
	}
	if len(missing) > 0 {
		return exitProblem
	}
	lb := strings.Trim(*loopback, "[]")
	if lb == "" {
		lb = "127.0.0.1"
		if h, ok := remoteHost(snap); ok {
			lb = h
		}
	}
	res := deriveRules(p, deriveOptions{target: lb})
	engine := "docker engine at " + snap.Host
	res.Files = []string{engine}
	for i := range res.Services {
		s := &res.Services[i]
		st := p.Services[s.Service]
		if len(st.Labels) > 0 && st.Labels["state"] != "running" {
			s.Problems = append(s.Problems, fmt.Sprintf("the container is %s: its ports are published only while it runs (docker start %s)", st.Labels["state"], s.Service))
			res.OK = false
		}
		if r := st.Labels["replicas"]; r != "" {
			s.Assumed = append(s.Assumed, fmt.Sprintf("%s run the same compose service (replicas): what is said of %s holds for each, with its own published ports", r, s.Service))
		}
		for j := range s.Listeners {
			l := &s.Listeners[j]
			// from-compose's advice names compose's ports:; a container
			// may have been started by hand.
			l.Note = composePortsAdvice.ReplaceAllString(l.Note, `(docker run -p 127.0.0.1::$1, or compose ports: ["$1"])`)
			if l.Rule != "" && random[s.Service+"/"+strconv.Itoa(l.ContainerPort)] {
				l.Note += "; a random host port, which changes when the container restarts (the Docker resolver follows it)"
			}
		}
	}
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
		writeComposeRules(&b, res)
		out := strings.Replace(b.String(), "`kafkadial rules from-compose`", "`kafkadial rules from-docker`", 1)
		out = strings.ReplaceAll(out, "\n# service ", "\n# container ")
		fmt.Fprint(c.stdout, out)
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

var composePortsAdvice = regexp.MustCompile(`\(ports: - "(?:\d+|HOSTPORT):(\d+)" on service [^()]*(?: \(HOSTPORT[^)]*\))?\)(?: and the rule \S+ => \S+ would do the rest: what it advertises can stay)?`)

// remoteHost is the engine's host when the engine is remote.
func remoteHost(s docker.Snapshot) (string, bool) {
	for _, p := range []string{"tcp://", "http://", "https://"} {
		if rest, ok := strings.CutPrefix(s.Host, p); ok {
			h, _, err := net.SplitHostPort(strings.SplitN(rest, "/", 2)[0])
			if err != nil {
				h = strings.SplitN(rest, "/", 2)[0]
			}
			if a, err := netip.ParseAddr(h); (err == nil && a.IsLoopback()) || h == "localhost" {
				return "", false
			}
			return h, true
		}
	}
	return "", false
}

// dockerProject turns containers into a compose project for deriveRules:
// one service per container (named after it; the replicas of a scaled
// compose service are one service with a scale, as in the compose file)
// with its environment, command, hostname, network aliases, actual port
// bindings and, on a local engine, bind mounts. Running containers are
// taken, or those named (running or not; the state is in the "state"
// label); random records which container ports the engine chose a host
// port for.
func dockerProject(s docker.Snapshot, names []string, project string) (p *types.Project, random map[string]bool, missing []string) {
	p = &types.Project{Name: "docker", Services: types.Services{}}
	random = map[string]bool{}
	// A bind mount's source is a path on the engine's host: read it only
	// when that is this machine.
	_, remote := remoteHost(s)
	remote = remote || strings.HasPrefix(s.Host, "ssh://")
	want := map[string]bool{}
	for _, n := range names {
		want[strings.TrimPrefix(n, "/")] = true
	}
	found := map[string]bool{}
	replicas := map[string]docker.Container{} // compose project/service -> its first container
	for _, c := range s.Containers {
		named := want[c.Name] || want[c.ID] || want[c.ShortID()]
		switch {
		case len(want) > 0 && !named:
			continue
		case len(want) == 0 && !c.Running():
			continue
		case project != "" && c.Project != project:
			continue
		}
		for n := range want {
			if n == c.Name || n == c.ID || n == c.ShortID() {
				found[n] = true
			}
		}
		// Replicas of one scaled compose service (its containers with the
		// same configuration) are one service with a scale, as in the
		// compose file; the first one's ports stand for all.
		if c.Project != "" && c.Service != "" {
			key := c.Project + "/" + c.Service
			if first, ok := replicas[key]; ok && sameConfig(first, c) {
				svc := p.Services[first.Name]
				n := svc.GetScale() + 1
				svc.Scale = &n
				// Each has its own hostname (its container id), as a
				// compose service without hostname: has.
				svc.Hostname = ""
				svc.Labels["replicas"] = strings.TrimPrefix(svc.Labels["replicas"]+", "+c.Name, ", ")
				p.Services[first.Name] = svc
				continue
			}
			replicas[key] = c
		}
		svc := types.ServiceConfig{Name: c.Name}
		svc.Image, svc.Hostname = c.Image, c.Hostname
		svc.Environment = types.NewMappingWithEquals(c.Env)
		svc.Labels = types.Labels{"state": c.State}
		if c.NetworkMode == "host" {
			svc.NetworkMode = "host"
		}
		// What it runs (Redpanda's listeners are flags of its command, a
		// Kafka command may name a properties file), and, on a local
		// engine, the files it mounts from this host.
		svc.Entrypoint, svc.Command = slices.Clone(c.Entrypoint), slices.Clone(c.Cmd)
		if !remote {
			for _, m := range c.Mounts {
				if m.Type == "bind" && m.Source != "" && m.Destination != "" {
					svc.Volumes = append(svc.Volumes, types.ServiceVolumeConfig{Type: types.VolumeTypeBind, Source: m.Source, Target: m.Destination})
				}
			}
		}
		// Its names on each network (compose's service name among them),
		// so that an address naming a proxy container is followed to it.
		for _, n := range c.Networks {
			if svc.Networks == nil {
				svc.Networks = map[string]*types.ServiceNetworkConfig{}
			}
			svc.Networks[n.Name] = &types.ServiceNetworkConfig{Aliases: slices.Clone(n.Aliases)}
		}
		for _, port := range c.Ports {
			for _, b := range port.Bindings {
				svc.Ports = append(svc.Ports, types.ServicePortConfig{Target: uint32(port.Port), Published: strconv.Itoa(b.HostPort), HostIP: b.HostIP, Protocol: "tcp"})
			}
			if port.Random {
				random[c.Name+"/"+strconv.Itoa(port.Port)] = true
			}
		}
		p.Services[c.Name] = svc
	}
	for _, n := range names {
		if !found[strings.TrimPrefix(n, "/")] {
			missing = append(missing, n)
		}
	}
	return p, random, missing
}

// sameConfig says whether two containers run the same configuration.
func sameConfig(a, b docker.Container) bool {
	return a.Image == b.Image && slices.Equal(a.Env, b.Env) && slices.Equal(a.Entrypoint, b.Entrypoint) && slices.Equal(a.Cmd, b.Cmd)
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
