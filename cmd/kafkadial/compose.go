package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	composecli "github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/kafkadial/kafkadial/dialer"
)

// composeOptions says how to load a compose project; the fields mirror
// docker compose's own flags.
type composeOptions struct {
	files       []string // -f; none: COMPOSE_FILE, then ./compose.yaml etc. and its override
	projectDir  string
	envFiles    []string
	profiles    []string
	projectName string
	environ     []string // the process environment, which wins over .env
}

// loadCompose loads a project as docker compose does: the process
// environment first, then .env (or --env-file) for interpolation,
// COMPOSE_FILE and the default file names with their override file,
// COMPOSE_PROFILES, and env_file entries resolved into each service's
// environment.
func loadCompose(ctx context.Context, o composeOptions) (p *types.Project, err error) {
	defer func() {
		// The loader is a large body of code fed user input; a panic in it
		// is reported as the error it is, not a crash of the command.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("the compose loader failed on this input: %v", r)
		}
	}()
	opts, err := composecli.NewProjectOptions(o.files,
		composecli.WithWorkingDirectory(o.projectDir),
		composecli.WithEnv(o.environ),
		composecli.WithEnvFiles(o.envFiles...),
		composecli.WithDotEnv,
		composecli.WithConfigFileEnv,
		composecli.WithDefaultConfigPath,
		// The project directory may have moved with the file found: its
		// .env counts too, as in docker compose.
		composecli.WithEnvFiles(o.envFiles...),
		composecli.WithDotEnv,
		composecli.WithDefaultProfiles(o.profiles...),
		composecli.WithName(o.projectName),
	)
	if err != nil {
		return nil, err
	}
	if len(opts.ConfigPaths) == 0 {
		return nil, errors.New("no compose file: none given, COMPOSE_FILE unset, and no compose.yaml, compose.yml, docker-compose.yml or docker-compose.yaml here or in a parent directory")
	}
	p, err = opts.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", strings.Join(opts.ConfigPaths, ", "), err)
	}
	return p, nil
}

// composeResult is what from-compose found.
type composeResult struct {
	Files     []string        `json:"files"`
	Services  []serviceResult `json:"services"`
	Rules     []string        `json:"rules"`
	Bootstrap []string        `json:"bootstrap"` // published addresses a host client can bootstrap from; the rules keep them as they are
	// OK: every Kafka service has an advertised address the host reaches.
	OK bool `json:"ok"`
}

type serviceResult struct {
	Service   string           `json:"service"`
	Image     string           `json:"image,omitempty"`
	Listeners []listenerResult `json:"listeners"`
	Problems  []string         `json:"problems,omitempty"` // configuration the command cannot follow
}

type listenerResult struct {
	Name          string `json:"name"`               // listener name, e.g. PLAINTEXT_HOST
	Protocol      string `json:"protocol,omitempty"` // its security protocol
	Advertised    string `json:"advertised"`         // host:port clients are told
	ContainerPort int    `json:"container_port"`     // the port the listener binds in the container
	Published     string `json:"published,omitempty"`
	Rule          string `json:"rule,omitempty"`
	Reachable     bool   `json:"reachable"` // the host reaches Advertised (through Rule)
	Note          string `json:"note"`      // how Published was found, or why there is none
}

// Kafka configuration is read from these environment prefixes: the
// apache/kafka and confluentinc images take KAFKA_, the bitnami image
// KAFKA_CFG_.
var kafkaPrefixes = []string{"KAFKA_CFG_", "KAFKA_"}

// deriveRules finds the Kafka services of a project and the rules that let
// the host reach each address they advertise. loopback is the address that
// reaches ports published on all interfaces (127.0.0.1).
func deriveRules(p *types.Project, loopback string) *composeResult {
	res := &composeResult{Files: p.ComposeFiles, Services: []serviceResult{}, Rules: []string{}, Bootstrap: []string{}, OK: true}
	names := sortedKeys(p.Services)
	claimed := map[string]string{} // advertised address -> service that has a rule for it
	for _, name := range names {
		svc := p.Services[name]
		prefix, ok := kafkaPrefix(svc.Environment)
		if !ok {
			continue
		}
		sr := serviceResult{Service: name, Image: svc.Image, Listeners: []listenerResult{}}
		sr.derive(p, svc, prefix, loopback)
		reachable := false
		for i := range sr.Listeners {
			l := &sr.Listeners[i]
			if l.Rule == "" {
				continue
			}
			if other, dup := claimed[l.Advertised]; dup {
				sr.Problems = append(sr.Problems, fmt.Sprintf("%s is advertised by service %s too: one address cannot reach two brokers, so only %s's rule is kept", l.Advertised, other, other))
				l.Rule, l.Reachable = "", false
				continue
			}
			claimed[l.Advertised] = name
			res.Rules = append(res.Rules, l.Rule)
			res.Bootstrap = append(res.Bootstrap, l.Published)
			reachable = true
		}
		if !reachable {
			res.OK = false
			if len(sr.Problems) == 0 {
				sr.Problems = append(sr.Problems, "the host reaches none of the addresses this broker advertises")
			}
		}
		res.Services = append(res.Services, sr)
	}
	return res
}

// kafkaPrefix says whether env configures a Kafka broker, and under which
// prefix.
func kafkaPrefix(env types.MappingWithEquals) (string, bool) {
	for _, p := range kafkaPrefixes {
		for _, k := range []string{"ADVERTISED_LISTENERS", "LISTENERS"} {
			if v, ok := env[p+k]; ok && v != nil && strings.TrimSpace(*v) != "" {
				return p, true
			}
		}
	}
	return "", false
}

func envValue(env types.MappingWithEquals, key string) (string, bool) {
	v, ok := env[key]
	if !ok || v == nil || strings.TrimSpace(*v) == "" {
		return "", false
	}
	return strings.TrimSpace(*v), true
}

// listener is one entry of a Kafka listeners list: NAME://host:port.
type listener struct {
	name, host string
	port       int
}

// parseListeners parses a listeners or advertised.listeners value.
func parseListeners(key, s string) ([]listener, error) {
	var out []listener
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, hostport, ok := strings.Cut(item, "://")
		if !ok || name == "" {
			return nil, fmt.Errorf("%s: %q is not NAME://host:port", key, item)
		}
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %v", key, item, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 {
			return nil, fmt.Errorf("%s: %q: bad port %q", key, item, port)
		}
		out = append(out, listener{name: strings.ToUpper(name), host: host, port: n})
	}
	return out, nil
}

// parseProtocolMap parses listener.security.protocol.map (NAME:PROTOCOL,...).
func parseProtocolMap(key, s string) (map[string]string, error) {
	m := map[string]string{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, proto, ok := strings.Cut(item, ":")
		if !ok || name == "" || proto == "" {
			return nil, fmt.Errorf("%s: %q is not NAME:PROTOCOL", key, item)
		}
		proto = strings.ToUpper(strings.TrimSpace(proto))
		switch proto {
		case "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL":
		default:
			return nil, fmt.Errorf("%s: unknown security protocol %q for listener %s", key, proto, name)
		}
		m[strings.ToUpper(strings.TrimSpace(name))] = proto
	}
	return m, nil
}

// defaultProtocols is Kafka's map when none is set: each protocol is a
// listener name of its own.
var defaultProtocols = map[string]string{"PLAINTEXT": "PLAINTEXT", "SSL": "SSL", "SASL_PLAINTEXT": "SASL_PLAINTEXT", "SASL_SSL": "SASL_SSL"}

func (sr *serviceResult) problem(format string, args ...any) {
	sr.Problems = append(sr.Problems, fmt.Sprintf(format, args...))
}

// derive fills sr from one Kafka service.
func (sr *serviceResult) derive(p *types.Project, svc types.ServiceConfig, prefix, loopback string) {
	env := svc.Environment
	advKey, bindKey, mapKey, ctlKey := prefix+"ADVERTISED_LISTENERS", prefix+"LISTENERS", prefix+"LISTENER_SECURITY_PROTOCOL_MAP", prefix+"CONTROLLER_LISTENER_NAMES"

	var binds []listener
	bindText, haveBinds := envValue(env, bindKey)
	if haveBinds {
		var err error
		if binds, err = parseListeners(bindKey, bindText); err != nil {
			sr.problem("%v", err)
			return
		}
	}
	advText, ok := envValue(env, advKey)
	if !ok {
		if !haveBinds {
			sr.problem("%s is not set: the brokers advertise the image's defaults, which this command does not guess; set %s", advKey, advKey)
			return
		}
		// Kafka advertises its listeners when advertised.listeners is unset.
		advKey, advText = bindKey, bindText
	}
	advs, err := parseListeners(advKey, advText)
	if err != nil {
		sr.problem("%v", err)
		return
	}
	protos := defaultProtocols
	if m, ok := envValue(env, mapKey); ok {
		if protos, err = parseProtocolMap(mapKey, m); err != nil {
			sr.problem("%v", err)
			return
		}
	}
	controllers := map[string]bool{}
	if c, ok := envValue(env, ctlKey); ok {
		for _, n := range strings.Split(c, ",") {
			controllers[strings.ToUpper(strings.TrimSpace(n))] = true
		}
	}

	// Where the service's ports are published: its own, or those of the
	// service whose network it shares.
	ports, hostNet, portsOf := svc.Ports, false, svc.Name
	switch mode := svc.NetworkMode; {
	case mode == "host":
		hostNet = true
	case strings.HasPrefix(mode, "service:"):
		portsOf = strings.TrimPrefix(mode, "service:")
		if other, ok := p.Services[portsOf]; ok {
			ports = other.Ports
		}
	case strings.HasPrefix(mode, "container:"):
		sr.problem("network_mode %s: the ports are those of a container outside this project, which this command cannot see", mode)
	}

	for _, a := range advs {
		if controllers[a.name] {
			continue // controller listeners serve the quorum, not clients
		}
		l := listenerResult{Name: a.name, Protocol: protos[a.name]}
		if l.Protocol == "" {
			sr.problem("listener %s has no security protocol in %s (Kafka refuses to start)", a.name, mapKey)
			l.Protocol = "?"
		}
		host := a.host
		if host == "" || host == "0.0.0.0" || host == "::" {
			if svc.Hostname == "" {
				l.Advertised = net.JoinHostPort(host, strconv.Itoa(a.port))
				l.Note = fmt.Sprintf("%s gives listener %s no host, so the broker advertises its container's hostname, which is the container id unless the service sets hostname:; set a host in %s", advKey, a.name, advKey)
				sr.Listeners = append(sr.Listeners, l)
				continue
			}
			host = svc.Hostname
		}
		l.Advertised = net.JoinHostPort(host, strconv.Itoa(a.port))

		// The container port that serves this listener is its bind port.
		l.ContainerPort = a.port
		bindNote := ""
		if haveBinds {
			i := slices.IndexFunc(binds, func(b listener) bool { return b.name == a.name })
			if i < 0 {
				l.Note = fmt.Sprintf("listener %s is advertised but not in %s, so no port serves it", a.name, bindKey)
				sr.Listeners = append(sr.Listeners, l)
				continue
			}
			l.ContainerPort = binds[i].port
			if l.ContainerPort != a.port {
				bindNote = fmt.Sprintf(" (it binds %d, advertises %d)", l.ContainerPort, a.port)
			}
		} else {
			bindNote = fmt.Sprintf(" (%s unset: the listener binds its advertised port, as the confluentinc image derives it)", bindKey)
		}

		switch {
		case hostNet:
			l.Published = net.JoinHostPort(loopback, strconv.Itoa(l.ContainerPort))
			l.Note = fmt.Sprintf("listener %s, network_mode host: port %d is on the host%s", a.name, l.ContainerPort, bindNote)
		default:
			pub, why := publishedPort(ports, l.ContainerPort, loopback)
			if pub == "" {
				l.Note = fmt.Sprintf("listener %s: container port %d %s%s", a.name, l.ContainerPort, why, bindNote)
				if why == notPublished {
					l.Note += fmt.Sprintf("; to reach it from the host, publish it (ports: - \"%d:%d\" on service %s) and advertise an address that reaches it", l.ContainerPort, l.ContainerPort, portsOf)
				}
				sr.Listeners = append(sr.Listeners, l)
				continue
			}
			l.Published = pub
			l.Note = fmt.Sprintf("listener %s, container port %d published as %s%s", a.name, l.ContainerPort, pub, bindNote)
		}
		if strings.HasPrefix(l.Protocol, "SASL") {
			l.Note += "; clients authenticate with SASL"
		}
		if strings.HasSuffix(l.Protocol, "SSL") {
			l.Note += fmt.Sprintf("; TLS verifies %s (the advertised name, which the rule keeps)", host)
		}
		if isLoopbackName(host) && l.Advertised == strings.Replace(l.Published, loopback, host, 1) {
			l.Note += "; reachable as advertised: the rule pins IPv4, since localhost may resolve to ::1 first"
		}
		rule := l.Advertised + " => " + l.Published
		if strings.ContainsAny(l.Advertised+l.Published, " \t\r\n\v\f;#") {
			l.Published = ""
			l.Note = fmt.Sprintf("listener %s advertises %q, which a rule cannot hold (white space, ';' or '#')", a.name, l.Advertised)
			sr.Listeners = append(sr.Listeners, l)
			continue
		}
		if _, err := dialer.New(dialer.WithRules(rule)); err != nil {
			l.Published = ""
			l.Note = fmt.Sprintf("listener %s advertises %q, which a rule cannot match: %v", a.name, l.Advertised, err)
			sr.Listeners = append(sr.Listeners, l)
			continue
		}
		l.Rule, l.Reachable = rule, true
		sr.Listeners = append(sr.Listeners, l)
	}
	if n := svc.Scale; n != nil && *n > 1 {
		sr.problem("scale %d: every replica advertises the same addresses, so clients cannot tell them apart", *n)
	}
}

const notPublished = "is not published"

// publishedPort finds the host address that publishes a container port.
func publishedPort(ports []types.ServicePortConfig, target int, loopback string) (addr, why string) {
	why = notPublished
	for _, pc := range ports {
		if int(pc.Target) != target || (pc.Protocol != "" && pc.Protocol != "tcp") {
			continue
		}
		if pc.Published == "" {
			why = "is published on a random host port: pin it (\"HOSTPORT:" + strconv.Itoa(target) + "\") or look it up with docker compose port"
			continue
		}
		if strings.Contains(pc.Published, "-") {
			why = "is published on a port range (" + pc.Published + "), from which docker picks one: publish it on one port"
			continue
		}
		n, err := strconv.Atoi(pc.Published)
		if err != nil || n < 1 || n > 65535 {
			why = fmt.Sprintf("is published on %q, which is not a port", pc.Published)
			continue
		}
		return net.JoinHostPort(hostFor(pc.HostIP, loopback), pc.Published), ""
	}
	return "", why
}

// hostFor is the address the host dials for a port bound on hostIP.
func hostFor(hostIP, loopback string) string {
	switch hostIP {
	case "", "0.0.0.0":
		return loopback
	case "::", "[::]":
		return "::1"
	}
	if a, err := netip.ParseAddr(strings.Trim(hostIP, "[]")); err == nil {
		return a.String()
	}
	return hostIP
}

func isLoopbackName(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// writeComposeRules prints the result as a rules file whose comments say
// where each rule comes from and what is left unreachable.
func writeComposeRules(w *strings.Builder, res *composeResult) {
	// Text from the compose file goes into comments: keep each on its line.
	oneLine := strings.NewReplacer("\n", `\n`, "\r", `\r`, "\v", `\v`, "\f", `\f`).Replace
	fmt.Fprintf(w, "# kafkadial rules derived by `kafkadial rules from-compose` from\n")
	for _, f := range res.Files {
		fmt.Fprintf(w, "#   %s\n", oneLine(f))
	}
	if len(res.Bootstrap) > 0 {
		fmt.Fprintf(w, "# bootstrap from the host with %s\n", strings.Join(res.Bootstrap, ","))
	}
	keep := keepRules(res)
	width := 0
	for _, s := range res.Services {
		for _, l := range s.Listeners {
			width = max(width, len(l.Rule))
		}
	}
	for _, k := range keep {
		width = max(width, len(k))
	}
	for _, s := range res.Services {
		fmt.Fprintf(w, "\n# service %s", oneLine(s.Service))
		if s.Image != "" {
			fmt.Fprintf(w, " (%s)", oneLine(s.Image))
		}
		fmt.Fprintln(w)
		for _, p := range s.Problems {
			fmt.Fprintf(w, "# PROBLEM: %s\n", oneLine(p))
		}
		for _, l := range s.Listeners {
			if l.Rule != "" {
				fmt.Fprintf(w, "%-*s  # %s\n", width, l.Rule, oneLine(l.Note))
			} else {
				fmt.Fprintf(w, "# %s is not reachable from the host: %s\n", oneLine(l.Advertised), oneLine(l.Note))
			}
		}
	}
	if len(keep) > 0 {
		fmt.Fprintf(w, "\n# the published addresses, dialled as they are (so that a strict dialer reaches the bootstrap)\n")
		for _, k := range keep {
			fmt.Fprintln(w, k)
		}
	}
}

// keepRules are "ADDR => =" for each published address that no derived
// rule matches already, in the order of the rules.
func keepRules(res *composeResult) []string {
	var (
		out  []string
		seen = map[string]bool{}
	)
	for _, r := range res.Rules {
		adv, _, _ := strings.Cut(r, " => ")
		seen[adv] = true
	}
	for _, b := range res.Bootstrap {
		if !seen[b] {
			seen[b] = true
			out = append(out, b+" => =")
		}
	}
	return out
}

func sortedKeys[M ~map[K]V, K cmp.Ordered, V any](m M) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
