package discover

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/kafkadial/kafkadial/rules"
)

// projectView is what every service's rules are derived from: the whole
// project, since a port one service publishes may reach another's broker
// and a rule for one address must not take another's.
type projectView struct {
	nodes map[string]*node
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

func newProjectView(nodes []*node, o deriveOptions) *projectView {
	v := &projectView{nodes: map[string]*node{}, o: o, specs: map[string]*brokerSpec{}, suggested: map[int]bool{}}
	for _, n := range nodes {
		v.nodes[n.name] = n
	}
	v.names = sortedKeys(v.nodes)
	if a, err := netip.ParseAddr(o.target); err == nil && a.IsLoopback() || strings.EqualFold(o.target, "localhost") {
		v.local = true
	}
	for _, name := range v.names {
		n := v.nodes[name]
		sp := inspect(n, o.files)
		v.specs[name] = sp
		if sp != nil && !sp.controller {
			for _, l := range sp.advs {
				if !sp.controllers[l.name] {
					v.advs = append(v.advs, advRef{name, l})
				}
			}
		}
		for _, pc := range n.ports {
			if !pc.tcp() {
				continue
			}
			if hp, err := strconv.Atoi(pc.published); err == nil && hp > 0 && hp <= 65535 {
				v.pubs = append(v.pubs, publication{name, pc.hostIP, hp, pc.target})
			}
		}
	}
	return v
}

// deriveService derives the listeners of one Kafka or Redpanda node.
func (v *projectView) deriveService(n *node, sp *brokerSpec) Service {
	sr := Service{Name: n.name, Image: n.image, Kind: sp.kind, Role: Broker, Roles: sp.roles,
		Read: sp.read, Assumed: slices.Clone(sp.assumed), Problems: slices.Clone(sp.problems), Listeners: []Listener{}}
	if sp.controller {
		sr.Role = Controller
		return sr
	}
	if sp.unknown != nil {
		sr.problem(*sp.unknown)
		return sr
	}
	ports, portsOf, hostNet := v.portsFor(n, &sr)
	for _, a := range sp.advs {
		if sp.controllers[a.name] {
			continue // controller listeners serve the quorum, not clients
		}
		sr.Listeners = append(sr.Listeners, v.deriveListener(n, sp, &sr, a, ports, portsOf, hostNet))
	}
	if n.scale > 1 && slices.ContainsFunc(sr.Listeners, func(l Listener) bool { return l.reachable && l.Port >= 0 }) {
		sr.problem(Problem{Code: ProblemScale, n: n.scale})
	}
	return sr
}

// portsFor is where a node's ports are published: its own, or those of
// the node whose network it shares.
func (v *projectView) portsFor(n *node, sr *Service) (ports []port, portsOf string, hostNet bool) {
	ports, portsOf = n.ports, n.name
	switch mode := n.networkMode; {
	case mode == "host":
		hostNet = true
	case strings.HasPrefix(mode, "service:"):
		portsOf = strings.TrimPrefix(mode, "service:")
		if other, ok := v.nodes[portsOf]; ok {
			ports = other.ports
		}
	case strings.HasPrefix(mode, "container:"):
		sr.problem(Problem{Code: ProblemForeignNetwork, value: mode})
	}
	return ports, portsOf, hostNet
}

func displayName(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return name
}

// deriveListener finds how the host reaches one advertised listener. It
// records what it found (Reach and the facts behind it); explain.go says
// it in words.
func (v *projectView) deriveListener(n *node, sp *brokerSpec, sr *Service, a listener, ports []port, portsOf string, hostNet bool) Listener {
	l := Listener{Name: displayName(a.name), Host: a.host, Port: a.port, portsOf: portsOf,
		kind: sp.kind, service: sr.Name, bindFrom: sp.bindFrom, hostNet: hostNet, docker: n.engine,
		hostCommand: envOf(n, "HOSTNAME_COMMAND"), portCommand: envOf(n, "PORT_COMMAND")}
	if sp.kind == Kafka {
		l.Protocol = sp.protos[a.name]
		switch {
		case l.Protocol != "":
		case sp.protoExplicit:
			sr.problem(Problem{Code: ProblemNoProtocol, listener: a.name, setting: sp.protoFrom})
			l.Protocol = "?"
		default:
			l.Protocol = "PLAINTEXT"
			sr.assume(Assumption{Code: AssumedPlaintext, setting: sp.protoFrom, listener: a.name})
		}
	}
	host := a.host
	switch {
	case a.hostComputed != "":
	case host == "" && n.hostname != "":
		host, l.Host = n.hostname, n.hostname
		sr.assume(Assumption{Code: AssumedHostname, setting: sp.advFrom, listener: l.Name, hostname: host})
	case host == "":
		a.hostComputed = "hostname"
	case host == "0.0.0.0" || host == "::":
		l.Advertised = a.addr()
		l.Reach = ReachMetaAddress
		return l
	}
	l.hostBy, l.portBy = computedFrom(a.hostComputed), computedFrom(a.portComputed)
	l.Advertised = net.JoinHostPort(host, strconv.Itoa(a.port))
	switch {
	case a.hostComputed == "hostname":
		l.Advertised = net.JoinHostPort("<container hostname>", strconv.Itoa(a.port))
	case a.port < 0:
		l.Advertised = a.addr()
	}

	// The container port that serves this listener is its bind port.
	l.ContainerPort = a.port
	switch {
	case sp.haveBinds:
		i := slices.IndexFunc(sp.binds, func(b listener) bool { return b.name == a.name })
		if i < 0 {
			l.Reach = ReachNotBound
			return l
		}
		l.ContainerPort = sp.binds[i].port
		if l.ContainerPort < 0 {
			l.bindBy = computedFrom(sp.binds[i].portComputed)
			l.Reach = ReachBindComputed
			return l
		}
		l.bindDiffers = a.port >= 0 && l.ContainerPort != a.port
	case a.port < 0:
		l.Reach = ReachBindUnknown
		return l
	default:
		l.bindDerived = true
	}

	// Where the host reaches the container port.
	var pub string
	if hostNet {
		pub = net.JoinHostPort(v.o.target, strconv.Itoa(l.ContainerPort))
	} else {
		pub, l.pub = v.publishedPort(ports, l.ContainerPort)
	}

	switch {
	case a.hostComputed != "" && a.port < 0:
		l.Reach = ReachComputed
		return l

	case a.port < 0:
		// The port is the host port docker publishes the container port on:
		// a rule that moves the host and keeps the port holds whatever it is.
		target, st := v.publishedHost(ports, l.ContainerPort, hostNet)
		l.pub = st
		if target == "" {
			l.Reach = st.reach
			return l
		}
		if other := v.hostTakenBy(a, sr.Name, target); other != nil {
			l.Reach, l.other = ReachHostShared, other
			return l
		}
		h, err := ruleHost(host)
		if err == nil {
			var t string
			if t, err = ruleHost(target); err == nil {
				l.Rule = h + " => " + t
			}
		}
		if err != nil {
			l.Rule, l.Reach, l.err, l.noRule = "", ReachNoRule, err, noRuleHost
			return l
		}
		l.Reach = ReachAnyPort

	case a.hostComputed != "":
		if pub == "" {
			l.Reach = l.pub.reach
			l.unpublished = l.pub.reach == ReachUnpublished
			return l
		}
		if other := v.portTakenBy(a, sr.Name, pub); other != nil {
			l.Reach, l.other, l.sharedPub = ReachPortShared, other, pub
			return l
		}
		l.Published = pub
		l.Rule = "*:" + strconv.Itoa(a.port) + " => " + pub
		l.Reach = ReachAnyHost

	default:
		l.Reach = ReachPublished
		if hostNet {
			l.Reach = ReachHostNetwork
		}
		if pub == "" {
			pub, l.via = v.publishedByAnother(sr.Name, host, a.port)
			if pub == "" {
				l.Reach = l.pub.reach
				l.unpublished = l.pub.reach == ReachUnpublished
				return l
			}
			l.Reach = l.via.reach
		}
		l.Published = pub
		l.asAdvertised = v.asAdvertised(host, a.port, pub)
		match, err := ruleAddr(host, a.port)
		if err != nil {
			l.Published = ""
			l.Reach, l.err, l.noRule = ReachNoRule, err, noRuleAddr
			return l
		}
		l.quoted = match != net.JoinHostPort(host, strconv.Itoa(a.port))
		l.Rule = match + " => " + pub
	}
	if _, errs := rules.Parse("rule", l.Rule); len(errs) > 0 {
		l.Reach, l.err, l.noRule = ReachNoRule, errs[0], noRuleParse
		l.Rule, l.Published = "", ""
		return l
	}
	l.reachable = true
	return l
}

func envOf(n *node, key string) string {
	v, _ := envValue(n.env, key)
	return v
}

// pubState is why a container port is not published where the host
// reaches it.
type pubState struct {
	reach     Reach  // ReachUnpublished, ReachRandomPort, ReachPortRange, ReachBadPort or ReachRemoteLoopback
	hostIP    string // the binding, for ReachBadPort, ReachPortRange and ReachRemoteLoopback
	published string
}

// publishedPort finds the host address that publishes a container port.
func (v *projectView) publishedPort(ports []port, target int) (addr string, st pubState) {
	st.reach = ReachUnpublished
	for _, pc := range ports {
		if pc.target != target || !pc.tcp() {
			continue
		}
		if pc.published == "" {
			st = pubState{reach: ReachRandomPort}
			continue
		}
		if strings.Contains(pc.published, "-") {
			st = pubState{reach: ReachPortRange, published: pc.published}
			continue
		}
		n, err := strconv.Atoi(pc.published)
		if err != nil || n < 1 || n > 65535 {
			st = pubState{reach: ReachBadPort, published: pc.published}
			continue
		}
		host, ok := v.hostFor(pc.hostIP)
		if !ok {
			st = pubState{reach: ReachRemoteLoopback, hostIP: pc.hostIP, published: pc.published}
			continue
		}
		return net.JoinHostPort(host, pc.published), pubState{}
	}
	return "", st
}

// publishedHost is the host address that reaches a container port
// published on any host port, fixed or picked by docker; st says how (a
// zero reach), or why none does.
func (v *projectView) publishedHost(ports []port, target int, hostNet bool) (host string, st pubState) {
	if hostNet {
		return v.o.target, pubState{}
	}
	st.reach = ReachUnpublished
	for _, pc := range ports {
		if pc.target != target || !pc.tcp() {
			continue
		}
		h, ok := v.hostFor(pc.hostIP)
		if !ok {
			st = pubState{reach: ReachRemoteLoopback, hostIP: pc.hostIP}
			continue
		}
		return h, pubState{hostIP: h, published: pc.published}
	}
	return "", st
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

// via is the service whose published port reaches a listener through
// it: ReachHostPort (this service publishes the advertised host port from
// another container port), ReachProxy (another service publishes it) or
// ReachNamedService (the advertised host names another service).
type via struct {
	reach         Reach
	service       string
	image         string
	containerPort int
}

// publishedByAnother finds a port another service publishes for an
// address a broker advertises: host port P of the Docker host (a proxy
// such as toxiproxy, nginx or socat publishing it), or port P of a service
// the host names.
func (v *projectView) publishedByAnother(self, host string, port int) (string, via) {
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
				return addr, via{reach: ReachHostPort, service: self, containerPort: pb.containerPort}
			}
			return addr, via{reach: ReachProxy, service: pb.service, image: v.imageOf(pb.service), containerPort: pb.containerPort}
		}
		return "", via{}
	}
	for _, name := range v.names {
		if name == self || !v.serviceNamed(name, host) {
			continue
		}
		ports, _, hostNet := v.portsFor(v.nodes[name], &Service{})
		var addr string
		if hostNet {
			addr = net.JoinHostPort(v.o.target, strconv.Itoa(port))
		} else if addr, _ = v.publishedPort(ports, port); addr == "" {
			continue
		}
		return addr, via{reach: ReachNamedService, service: name, image: v.imageOf(name)}
	}
	return "", via{}
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
	if n := v.nodes[service]; n != nil && n.image != "" {
		return n.image
	}
	return "no image"
}

// serviceNamed says whether host is a name service has on its networks.
func (v *projectView) serviceNamed(service, host string) bool {
	return slices.ContainsFunc(v.nodes[service].names(), func(n string) bool { return n != "" && strings.EqualFold(n, host) })
}

// Conflict is an address that a broader rule would take from its owner.
type Conflict struct {
	Addr      string // the address
	Service   string // the service that advertises or publishes it
	Published bool   // Service publishes Addr (else advertises it)
}

// portTakenBy is an address that a rule for any host on a's port would
// take from its owner: another listener's advertised address on that
// port, or a published address other than pub.
func (v *projectView) portTakenBy(a listener, self, pub string) *Conflict {
	for _, o := range v.advs {
		if o.service == self && o.l.name == a.name {
			continue
		}
		if o.l.port == a.port {
			return &Conflict{Addr: o.l.addr(), Service: o.service}
		}
	}
	for _, pb := range v.pubs {
		h, ok := v.hostFor(pb.hostIP)
		addr := net.JoinHostPort(h, strconv.Itoa(pb.hostPort))
		if ok && pb.hostPort == a.port && addr != pub {
			return &Conflict{Addr: addr, Service: pb.service, Published: true}
		}
	}
	return nil
}

// hostTakenBy is an address that a rule for any port on a's host would
// take from its owner: another listener's advertised address on that
// host, or a published address on it that the rule would move.
func (v *projectView) hostTakenBy(a listener, self, target string) *Conflict {
	for _, o := range v.advs {
		if o.service == self && o.l.name == a.name {
			continue
		}
		if o.l.hostComputed == "" && strings.EqualFold(o.l.host, a.host) {
			return &Conflict{Addr: o.l.addr(), Service: o.service}
		}
	}
	if !strings.EqualFold(a.host, target) {
		for _, pb := range v.pubs {
			if h, ok := v.hostFor(pb.hostIP); ok && strings.EqualFold(h, a.host) {
				return &Conflict{Addr: net.JoinHostPort(h, strconv.Itoa(pb.hostPort)), Service: pb.service, Published: true}
			}
		}
	}
	return nil
}

// adviseUnpublished finds, for each listener whose container port is not
// published, what reaching it would take (a host port no service
// publishes and no earlier advice named, and the rule that would follow),
// or that it needs no reaching: the listeners host clients use instead.
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
			l.servedBy = reached
			continue
		}
		a := &advice{service: l.portsOf}
		for _, p := range []int{l.ContainerPort, l.Port} {
			if p > 0 && !v.suggested[p] && !slices.ContainsFunc(v.pubs, func(pb publication) bool { return pb.hostPort == p }) {
				a.hostPort = p
				v.suggested[p] = true
				break
			}
		}
		hostPort := "HOSTPORT"
		if a.hostPort > 0 {
			hostPort = strconv.Itoa(a.hostPort)
		}
		if l.Port >= 0 && l.Host != "" {
			if match, err := ruleAddr(l.Host, l.Port); err == nil {
				a.rule = match + " => " + net.JoinHostPort(v.o.target, hostPort)
			}
		} else {
			a.again = true
		}
		l.advice = a
	}
}

// advice is how to reach a listener whose container port is not
// published.
type advice struct {
	hostPort int    // publish it on this host port; 0: any no service publishes yet
	service  string // on this service (the one whose network the broker uses)
	rule     string // then this rule reaches it, "" when none can be told
	again    bool   // what it advertises is computed: derive again once published
}
