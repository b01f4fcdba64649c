package discover

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/kafkadial/kafkadial/rules"
)

// projectView is what every service's rules are derived from: the whole
// project, since a port one service publishes may reach another's broker
// and a rule for one address must not take another's.
type projectView struct {
	p     *types.Project
	o     deriveOptions
	local bool // the target is this machine
	names []string
	specs map[string]*brokerSpec
	advs  []advRef // every address a broker listener advertises
	// suggested are the host ports advice has named, so that no two
	// pieces of advice name the same one.
	suggested map[int]bool
	pubs      []publication // every port published on one fixed host port
}

type advRef struct {
	service string
	l       listener
}

// publication is a container port a service publishes on a host port.
type publication struct {
	service       string
	hostIP        string
	hostPort      int
	containerPort int
}

func newProjectView(p *types.Project, o deriveOptions) *projectView {
	v := &projectView{p: p, o: o, names: sortedKeys(p.Services), specs: map[string]*brokerSpec{}, suggested: map[int]bool{}}
	if a, err := netip.ParseAddr(o.target); err == nil && a.IsLoopback() || strings.EqualFold(o.target, "localhost") {
		v.local = true
	}
	for _, name := range v.names {
		svc := p.Services[name]
		sp := inspectService(p, svc, o.files)
		v.specs[name] = sp
		if sp != nil && !sp.controller {
			for _, l := range sp.advs {
				if !sp.controllers[l.name] {
					v.advs = append(v.advs, advRef{name, l})
				}
			}
		}
		for _, pc := range svc.Ports {
			if pc.Protocol != "" && pc.Protocol != "tcp" {
				continue
			}
			if n, err := strconv.Atoi(pc.Published); err == nil && n > 0 && n <= 65535 {
				v.pubs = append(v.pubs, publication{name, pc.HostIP, n, int(pc.Target)})
			}
		}
	}
	return v
}

// deriveService derives the listeners of one Kafka or Redpanda service.
func (v *projectView) deriveService(name string, svc types.ServiceConfig, sp *brokerSpec) Service {
	sr := Service{Name: name, Image: svc.Image, Kind: sp.kind, Role: Broker, Roles: sp.roles,
		Read: sp.read, Assumed: slices.Clone(sp.assumed), Problems: slices.Clone(sp.problems), Listeners: []Listener{}}
	if sp.controller {
		sr.Role = Controller
		return sr
	}
	if sp.unknown != "" {
		sr.problem("%s: this command cannot tell what it advertises", sp.unknown)
		return sr
	}
	ports, portsOf, hostNet := v.portsFor(svc, &sr)
	for _, a := range sp.advs {
		if sp.controllers[a.name] {
			continue // controller listeners serve the quorum, not clients
		}
		sr.Listeners = append(sr.Listeners, v.deriveListener(svc, sp, &sr, a, ports, portsOf, hostNet))
	}
	if n := svc.Scale; n != nil && *n > 1 && slices.ContainsFunc(sr.Listeners, func(l Listener) bool { return l.reachable && l.Port >= 0 }) {
		sr.problem("scale %d: every replica advertises the same addresses, so clients cannot tell them apart", *n)
	}
	return sr
}

// portsFor is where a service's ports are published: its own, or those of
// the service whose network it shares.
func (v *projectView) portsFor(svc types.ServiceConfig, sr *Service) (ports []types.ServicePortConfig, portsOf string, hostNet bool) {
	ports, portsOf = svc.Ports, svc.Name
	switch mode := svc.NetworkMode; {
	case mode == "host":
		hostNet = true
	case strings.HasPrefix(mode, "service:"):
		portsOf = strings.TrimPrefix(mode, "service:")
		if other, ok := v.p.Services[portsOf]; ok {
			ports = other.Ports
		}
	case strings.HasPrefix(mode, "container:"):
		sr.problem("network_mode %s: the ports are those of a container outside this project, which this command cannot see", mode)
	}
	return ports, portsOf, hostNet
}

func displayName(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return name
}

// deriveListener finds how the host reaches one advertised listener.
func (v *projectView) deriveListener(svc types.ServiceConfig, sp *brokerSpec, sr *Service, a listener, ports []types.ServicePortConfig, portsOf string, hostNet bool) Listener {
	l := Listener{Name: displayName(a.name), Host: a.host, Port: a.port, portsOf: portsOf}
	if sp.kind == Kafka {
		l.Protocol = sp.protos[a.name]
		switch {
		case l.Protocol != "":
		case sp.protoExplicit:
			sr.problem("listener %s has no security protocol in %s (Kafka refuses to start)", a.name, sp.protoFrom)
			l.Protocol = "?"
		default:
			l.Protocol = "PLAINTEXT"
			sr.assume("%s is not set here: listener %s is taken as PLAINTEXT (the image's own server.properties must map it, or Kafka refuses to start)", sp.protoFrom, a.name)
		}
	}
	host := a.host
	switch {
	case a.hostComputed != "":
	case host == "" && svc.Hostname != "":
		host, l.Host = svc.Hostname, svc.Hostname
		sr.assume("%s gives listener %s no host: the broker advertises its hostname, %s (hostname:)", sp.advFrom, l.Name, host)
	case host == "":
		a.hostComputed = "hostname"
	case host == "0.0.0.0" || host == "::":
		l.Advertised = a.addr()
		refuses := ""
		if sp.kind == Kafka {
			refuses = " (Kafka refuses to start with it)"
		}
		l.Note = fmt.Sprintf("listener %s advertises %s, the non-routable meta-address, which no client can dial%s; advertise a name, such as the service's: %s", l.Name, host, refuses, svc.Name)
		return l
	}
	l.Advertised = net.JoinHostPort(host, strconv.Itoa(a.port))
	switch {
	case a.hostComputed == "hostname":
		l.Advertised = net.JoinHostPort("<container hostname>", strconv.Itoa(a.port))
	case a.port < 0:
		l.Advertised = a.addr()
	}
	var computed []string
	if a.hostComputed != "" {
		computed = append(computed, "the host is "+computedBy(svc, a.hostComputed, 0))
	}

	// The container port that serves this listener is its bind port.
	l.ContainerPort = a.port
	bindNote := ""
	switch {
	case sp.haveBinds:
		i := slices.IndexFunc(sp.binds, func(b listener) bool { return b.name == a.name })
		if i < 0 {
			l.Note = fmt.Sprintf("listener %s is advertised but not in %s, so no port serves it", l.Name, sp.bindFrom)
			return l
		}
		l.ContainerPort = sp.binds[i].port
		if l.ContainerPort < 0 {
			l.Computed = strings.Join(append(computed, "the port it binds is "+computedBy(svc, sp.binds[i].portComputed, 0)), "; ")
			l.Note = fmt.Sprintf("listener %s binds a port computed at container start, so no published port can be told", l.Name)
			return l
		}
		if a.port >= 0 && l.ContainerPort != a.port {
			bindNote = fmt.Sprintf(" (it binds %d, advertises %d)", l.ContainerPort, a.port)
		}
	case a.port < 0:
		l.Note = fmt.Sprintf("listener %s advertises a port computed at container start and %s is unset, so the port it binds cannot be told", l.Name, sp.bindFrom)
		return l
	default:
		bindNote = fmt.Sprintf(" (%s unset: the listener binds its advertised port, as the confluentinc image derives it)", sp.bindFrom)
	}
	if a.port < 0 {
		computed = append(computed, "the port is "+computedBy(svc, a.portComputed, l.ContainerPort))
	}
	l.Computed = strings.Join(computed, "; ")

	// Where the host reaches the container port.
	var pub, why string
	if hostNet {
		pub = net.JoinHostPort(v.o.target, strconv.Itoa(l.ContainerPort))
		why = fmt.Sprintf("network_mode host: port %d is on the host", l.ContainerPort)
	} else {
		pub, why = v.publishedPort(ports, l.ContainerPort)
		if pub != "" {
			why = fmt.Sprintf("container port %d published as %s", l.ContainerPort, pub)
		}
	}

	switch {
	case a.hostComputed != "" && a.port < 0:
		l.Note = fmt.Sprintf("listener %s advertises an address computed at container start (%s): no rule can be written before it runs; once it does, kafkadial probe shows what it advertises", l.Name, l.Computed)
		return l

	case a.port < 0:
		// The port is the host port docker publishes the container port on:
		// a rule that moves the host and keeps the port holds whatever it is.
		target, how := v.publishedHost(ports, l.ContainerPort, hostNet)
		if target == "" {
			l.Note = fmt.Sprintf("listener %s advertises %s, whose %s; but container port %d %s", l.Name, l.Advertised, l.Computed, l.ContainerPort, how)
			return l
		}
		if other := v.hostTakenBy(a, sr.Name, target); other != "" {
			l.Note = fmt.Sprintf("listener %s advertises %s (%s); a rule for host %s alone would also take %s", l.Name, l.Advertised, l.Computed, host, other)
			return l
		}
		h, err := ruleHost(host)
		if err == nil {
			var t string
			if t, err = ruleHost(target); err == nil {
				l.Rule = h + " => " + t
			}
		}
		l.Note = fmt.Sprintf("listener %s advertises %s: %s, taken to be the host port docker publishes container port %d on (%s), which this rule keeps while it moves the host; bootstrap from the port docker compose port %s %d prints", l.Name, l.Advertised, l.Computed, l.ContainerPort, how, sr.Name, l.ContainerPort)
		if err != nil {
			l.Rule, l.Note = "", fmt.Sprintf("listener %s advertises host %s, which no rule can hold: %v", l.Name, host, err)
			return l
		}

	case a.hostComputed != "":
		if pub == "" {
			l.Note = fmt.Sprintf("listener %s: %s; container port %d %s", l.Name, l.Computed, l.ContainerPort, why)
			l.unpublished = why == notPublished
			return l
		}
		if other := v.portTakenBy(a, sr.Name, pub); other != "" {
			l.Note = fmt.Sprintf("listener %s: %s; its port %d is published as %s, but a rule for port %d alone would also take %s", l.Name, l.Computed, a.port, pub, a.port, other)
			return l
		}
		l.Published = pub
		l.Rule = "*:" + strconv.Itoa(a.port) + " => " + pub
		l.Note = fmt.Sprintf("listener %s advertises %s: %s; whatever it is, port %d is this listener's alone here, %s%s, so the rule takes any host on port %d", l.Name, l.Advertised, l.Computed, a.port, why, bindNote, a.port)
		if a.hostComputed == "hostname" {
			l.Note += fmt.Sprintf("; with hostname: %s on service %s the broker would advertise %s:%d and the rule %s:%d => %s could be exact", svc.Name, sr.Name, svc.Name, a.port, svc.Name, a.port, pub)
		}

	default:
		desc := ""
		if pub == "" {
			var via string
			pub, via = v.publishedByAnother(sr.Name, host, a.port)
			if pub == "" {
				l.Note = fmt.Sprintf("listener %s: container port %d %s%s", l.Name, l.ContainerPort, why, bindNote)
				l.unpublished = why == notPublished
				return l
			}
			desc = fmt.Sprintf("listener %s: %s", l.Name, via)
		} else {
			desc = fmt.Sprintf("listener %s, %s%s", l.Name, why, bindNote)
		}
		l.Published = pub
		l.Note = desc
		if v.asAdvertised(host, a.port, pub) {
			l.Note += "; reachable as advertised"
			if strings.EqualFold(host, "localhost") {
				l.Note += ": the rule pins IPv4, since localhost may resolve to ::1 first"
			}
		}
		match, err := ruleAddr(host, a.port)
		if err != nil {
			l.Published = ""
			l.Note = fmt.Sprintf("listener %s advertises %s: %v", l.Name, l.Advertised, err)
			return l
		}
		if match != net.JoinHostPort(host, strconv.Itoa(a.port)) {
			l.Note += "; the host is written in quotes, so the rule matches it literally"
			if strings.Contains(host, hostPlaceholder) {
				l.Note += "; " + hostPlaceholder + " is the placeholder wurstmeister/kafka's start script fills with HOSTNAME_COMMAND's output, but HOSTNAME_COMMAND is not set, so the broker is told the name as written"
			}
		}
		l.Rule = match + " => " + pub
	}
	if strings.HasPrefix(l.Protocol, "SASL") {
		l.Note += "; clients authenticate with SASL"
	}
	if strings.HasSuffix(l.Protocol, "SSL") {
		l.Note += fmt.Sprintf("; TLS verifies %s (the advertised name, which the rule keeps)", host)
	}
	if _, errs := rules.Parse("rule", l.Rule); len(errs) > 0 {
		l.Note = fmt.Sprintf("listener %s advertises %s, for which no rule can be written: %v", l.Name, l.Advertised, errs[0])
		l.Rule, l.Published = "", ""
		return l
	}
	l.reachable = true
	return l
}

const notPublished = "is not published"

// publishedPort finds the host address that publishes a container port.
func (v *projectView) publishedPort(ports []types.ServicePortConfig, target int) (addr, why string) {
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
		host, ok := v.hostFor(pc.HostIP)
		if !ok {
			why = fmt.Sprintf("is published on the Docker host's %s only (%s:%s), which this machine does not reach; dial it through an SSH hop to the Docker host", pc.HostIP, pc.HostIP, pc.Published)
			continue
		}
		return net.JoinHostPort(host, pc.Published), ""
	}
	return "", why
}

// publishedHost is the host address that reaches a container port
// published on any host port, fixed or picked by docker.
func (v *projectView) publishedHost(ports []types.ServicePortConfig, target int, hostNet bool) (host, how string) {
	if hostNet {
		return v.o.target, "network_mode host"
	}
	how = notPublished
	for _, pc := range ports {
		if int(pc.Target) != target || (pc.Protocol != "" && pc.Protocol != "tcp") {
			continue
		}
		h, ok := v.hostFor(pc.HostIP)
		if !ok {
			how = fmt.Sprintf("is published on the Docker host's %s only, which this machine does not reach", pc.HostIP)
			continue
		}
		if pc.Published == "" {
			return h, fmt.Sprintf("published on a host port docker picks, on %s", h)
		}
		return h, fmt.Sprintf("published on %s:%s", h, pc.Published)
	}
	return "", how
}

// hostFor is the address this machine dials for a port bound on hostIP;
// ok is false when it cannot reach it.
func (v *projectView) hostFor(hostIP string) (string, bool) {
	switch hostIP {
	case "", "0.0.0.0":
		return v.o.target, true
	case "::", "[::]":
		if v.local {
			return "::1", true
		}
		return v.o.target, true
	}
	a, err := netip.ParseAddr(strings.Trim(hostIP, "[]"))
	if err != nil {
		return hostIP, true
	}
	if a.IsLoopback() && !v.local {
		return "", false // the Docker host's loopback
	}
	return a.String(), true
}

// namesDockerHost says whether an advertised host names the Docker host
// (from the containers' side or this machine's), where every service
// publishes its ports.
func (v *projectView) namesDockerHost(host string) bool {
	switch strings.ToLower(strings.TrimSuffix(host, ".")) {
	case "localhost", "host.docker.internal", "gateway.docker.internal", strings.ToLower(v.o.target):
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// asAdvertised says whether this machine reaches host:port as it is, at
// pub.
func (v *projectView) asAdvertised(host string, port int, pub string) bool {
	ph, pp, _ := net.SplitHostPort(pub)
	if pp != strconv.Itoa(port) {
		return false
	}
	if strings.EqualFold(host, v.o.target) && ph == v.o.target {
		return true
	}
	if !v.local {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return ph == "127.0.0.1" || ph == "::1"
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback() && a.String() == ph
}

// publishedByAnother finds a port another service publishes for an
// address a broker advertises: host port P of the Docker host (a proxy
// such as toxiproxy, nginx or socat publishing it), or port P of a service
// the host names.
func (v *projectView) publishedByAnother(self, host string, port int) (pub, how string) {
	if v.namesDockerHost(host) {
		for _, pb := range v.pubs {
			if pb.hostPort != port {
				continue
			}
			h, ok := v.hostFor(pb.hostIP)
			if !ok || !v.reachesBinding(host, pb.hostIP) {
				continue
			}
			addr := net.JoinHostPort(h, strconv.Itoa(port))
			if pb.service == self {
				return addr, fmt.Sprintf("host port %d is published by this service, from its container port %d", port, pb.containerPort)
			}
			return addr, fmt.Sprintf("host port %d is published by service %s (%s), from its container port %d: the connection goes through %s, which must forward it to this broker", port, pb.service, v.imageOf(pb.service), pb.containerPort, pb.service)
		}
		return "", ""
	}
	for _, name := range v.names {
		if name == self || !v.serviceNamed(name, host) {
			continue
		}
		svc := v.p.Services[name]
		ports, _, hostNet := v.portsFor(svc, &Service{})
		var addr string
		if hostNet {
			addr = net.JoinHostPort(v.o.target, strconv.Itoa(port))
		} else if addr, _ = v.publishedPort(ports, port); addr == "" {
			continue
		}
		return addr, fmt.Sprintf("%s names service %s (%s), which publishes its port %d as %s: the connection goes through %s, which must forward it to this broker", host, name, v.imageOf(name), port, addr, name)
	}
	return "", ""
}

// reachesBinding: an advertised host that names the Docker host reaches a
// port bound on hostIP there.
func (v *projectView) reachesBinding(host, hostIP string) bool {
	switch hostIP {
	case "", "0.0.0.0", "::", "[::]":
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(hostIP, "[]"))
	if err != nil {
		return false
	}
	if a.IsLoopback() {
		b, err := netip.ParseAddr(host)
		return strings.EqualFold(host, "localhost") || err == nil && b.IsLoopback()
	}
	return host == a.String()
}

func (v *projectView) imageOf(service string) string {
	if img := v.p.Services[service].Image; img != "" {
		return img
	}
	return "no image"
}

// serviceNamed says whether host is a name service has on its networks.
func (v *projectView) serviceNamed(service, host string) bool {
	svc := v.p.Services[service]
	names := []string{service, svc.Hostname, svc.ContainerName}
	for _, n := range svc.Networks {
		if n != nil {
			names = append(names, n.Aliases...)
		}
	}
	return slices.ContainsFunc(names, func(n string) bool { return n != "" && strings.EqualFold(n, host) })
}

// portTakenBy names an address that a rule for any host on a's port would
// take from its owner: another listener's advertised address on that
// port, or a published address other than pub.
func (v *projectView) portTakenBy(a listener, self, pub string) string {
	for _, o := range v.advs {
		if o.service == self && o.l.name == a.name {
			continue
		}
		if o.l.port == a.port {
			return fmt.Sprintf("%s, which service %s advertises", o.l.addr(), o.service)
		}
	}
	for _, pb := range v.pubs {
		h, ok := v.hostFor(pb.hostIP)
		addr := net.JoinHostPort(h, strconv.Itoa(pb.hostPort))
		if ok && pb.hostPort == a.port && addr != pub {
			return fmt.Sprintf("%s, which service %s publishes", addr, pb.service)
		}
	}
	return ""
}

// hostTakenBy names an address that a rule for any port on a's host would
// take from its owner: another listener's advertised address on that
// host, or a published address on it that the rule would move.
func (v *projectView) hostTakenBy(a listener, self, target string) string {
	for _, o := range v.advs {
		if o.service == self && o.l.name == a.name {
			continue
		}
		if o.l.hostComputed == "" && strings.EqualFold(o.l.host, a.host) {
			return fmt.Sprintf("%s, which service %s advertises", o.l.addr(), o.service)
		}
	}
	if !strings.EqualFold(a.host, target) {
		for _, pb := range v.pubs {
			if h, ok := v.hostFor(pb.hostIP); ok && strings.EqualFold(h, a.host) {
				return fmt.Sprintf("%s, which service %s publishes", net.JoinHostPort(h, strconv.Itoa(pb.hostPort)), pb.service)
			}
		}
	}
	return ""
}

// adviseUnpublished says, for each listener whose container port is not
// published, what reaching it would take, or that it needs no reaching.
func (v *projectView) adviseUnpublished(sr *Service, reachable bool) {
	var reached []string
	for _, l := range sr.Listeners {
		if l.reachable {
			reached = append(reached, l.Name)
		}
	}
	for i := range sr.Listeners {
		l := &sr.Listeners[i]
		if !l.unpublished {
			continue
		}
		if reachable {
			l.Note += fmt.Sprintf(": it serves containers on its network; host clients use listener %s", strings.Join(reached, ", "))
			continue
		}
		hostPort := ""
		for _, p := range []int{l.ContainerPort, l.Port} {
			if p > 0 && !v.suggested[p] && !slices.ContainsFunc(v.pubs, func(pb publication) bool { return pb.hostPort == p }) {
				hostPort = strconv.Itoa(p)
				v.suggested[p] = true
				break
			}
		}
		free := ""
		if hostPort == "" {
			hostPort, free = "HOSTPORT", " (HOSTPORT a host port no service publishes yet)"
		}
		l.Note += fmt.Sprintf("; to reach it from the host, publish it (ports: - \"%s:%d\" on service %s%s)", hostPort, l.ContainerPort, l.portsOf, free)
		if l.Port >= 0 && l.Host != "" {
			if match, err := ruleAddr(l.Host, l.Port); err == nil {
				l.Note += fmt.Sprintf(" and the rule %s => %s would do the rest: what it advertises can stay", match, net.JoinHostPort(v.o.target, hostPort))
			}
		} else {
			l.Note += ", then run this command again"
		}
	}
}

var composePortsAdvice = regexp.MustCompile(`\(ports: - "(?:\d+|HOSTPORT):(\d+)" on service [^()]*(?: \(HOSTPORT[^)]*\))?\)(?: and the rule \S+ => \S+ would do the rest: what it advertises can stay)?`)
