package discover

import (
	"fmt"
	"strings"
)

// Reach says how this host reaches an advertised listener, or why it
// cannot. The zero value is ReachUnknown.
type Reach int

// How the host reaches a listener. The reachable ones come first.
const (
	ReachUnknown Reach = iota

	// ReachPublished: the listener's container port is published on a
	// host port (ports:).
	ReachPublished
	// ReachHostNetwork: the broker runs in the host's network
	// (network_mode: host), so its container port is a host port.
	ReachHostNetwork
	// ReachHostPort: the advertised address names the Docker host, on a
	// host port the broker's own service publishes from another
	// container port.
	ReachHostPort
	// ReachProxy: the advertised address names the Docker host, on a
	// host port another service (a proxy) publishes.
	ReachProxy
	// ReachNamedService: the advertised host names another service (a
	// proxy sidecar), which publishes the advertised port.
	ReachNamedService
	// ReachAnyHost: the host is computed at container start (or is the
	// container's hostname); the rule takes any host on the advertised
	// port, which is this listener's alone.
	ReachAnyHost
	// ReachAnyPort: the port is the host port docker publishes the
	// container port on, computed at start; the rule moves the host and
	// keeps the port.
	ReachAnyPort

	// ReachUnpublished: the container port is not published.
	ReachUnpublished
	// ReachRandomPort: the container port is published on a host port
	// docker picks, which a compose file cannot name.
	ReachRandomPort
	// ReachPortRange: published on a range of host ports.
	ReachPortRange
	// ReachBadPort: published on something that is not a port.
	ReachBadPort
	// ReachRemoteLoopback: published on the Docker host's loopback only,
	// and the Docker host is another machine.
	ReachRemoteLoopback
	// ReachMetaAddress: the broker advertises 0.0.0.0 or ::.
	ReachMetaAddress
	// ReachNotBound: the listener is advertised but not bound.
	ReachNotBound
	// ReachBindComputed: the port it binds is computed at start.
	ReachBindComputed
	// ReachBindUnknown: the advertised port is computed at start and the
	// bind ports are not set.
	ReachBindUnknown
	// ReachComputed: host and port are both computed at start.
	ReachComputed
	// ReachHostShared: a rule for the advertised host alone would also
	// take another listener's or service's address.
	ReachHostShared
	// ReachPortShared: a rule for the advertised port alone would also
	// take another listener's or service's address.
	ReachPortShared
	// ReachNoRule: the rule language cannot name the advertised address.
	ReachNoRule
)

var reachNames = [...]string{
	ReachUnknown: "unknown", ReachPublished: "published", ReachHostNetwork: "host-network",
	ReachHostPort: "host-port", ReachProxy: "proxy", ReachNamedService: "named-service",
	ReachAnyHost: "any-host", ReachAnyPort: "any-port", ReachUnpublished: "unpublished",
	ReachRandomPort: "random-port", ReachPortRange: "port-range", ReachBadPort: "bad-port",
	ReachRemoteLoopback: "remote-loopback", ReachMetaAddress: "meta-address", ReachNotBound: "not-bound",
	ReachBindComputed: "bind-computed", ReachBindUnknown: "bind-unknown", ReachComputed: "computed",
	ReachHostShared: "host-shared", ReachPortShared: "port-shared", ReachNoRule: "no-rule",
}

// String returns the code's name, such as "published" or "unpublished".
func (r Reach) String() string {
	if r >= 0 && int(r) < len(reachNames) {
		return reachNames[r]
	}
	return fmt.Sprintf("Reach(%d)", int(r))
}

// MarshalText returns String's name.
func (r Reach) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Reachable reports whether the code is one of a reachable listener.
func (r Reach) Reachable() bool { return r >= ReachPublished && r <= ReachAnyPort }

// computer is what computes part of an address at container start.
type computer int

const (
	computedNot computer = iota
	computedHostnameCommand
	computedPortCommand
	computedDockerPort // wurstmeister's start script asking docker port
	computedHostname   // the container's hostname
)

func computedFrom(what string) computer {
	switch what {
	case "HOSTNAME_COMMAND":
		return computedHostnameCommand
	case "PORT_COMMAND":
		return computedPortCommand
	case "docker port":
		return computedDockerPort
	case "hostname":
		return computedHostname
	}
	return computedNot
}

// noRule says which part of an address the rule language cannot name.
type noRule int

const (
	noRuleHost  noRule = iota + 1 // the host of a host-only rule
	noRuleAddr                    // host:port
	noRuleParse                   // the whole rule
)

// computedBy describes what computes a value at container start, to
// follow "the host is" or "the port is".
func (l *Listener) computedBy(c computer, containerPort int) string {
	switch c {
	case computedHostnameCommand:
		return fmt.Sprintf("computed at container start by HOSTNAME_COMMAND (%s)", oneLineQuote(l.hostCommand))
	case computedPortCommand:
		return fmt.Sprintf("computed at container start by PORT_COMMAND (%s)", oneLineQuote(l.portCommand))
	case computedDockerPort:
		return fmt.Sprintf("computed at container start by wurstmeister's start script, which asks docker port for the host port of container port %d", containerPort)
	case computedHostname:
		return "the container's hostname, which is its container id unless the service sets hostname:"
	}
	return ""
}

func oneLineQuote(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// Computed says what computes part of Advertised at container start, ""
// when nothing does or it does not matter.
func (l *Listener) Computed() string {
	switch l.Reach {
	case ReachMetaAddress, ReachNotBound, ReachBindUnknown:
		return ""
	}
	var parts []string
	if l.hostBy != computedNot {
		parts = append(parts, "the host is "+l.computedBy(l.hostBy, 0))
	}
	switch {
	case l.Reach == ReachBindComputed:
		parts = append(parts, "the port it binds is "+l.computedBy(l.bindBy, 0))
	case l.portBy != computedNot:
		parts = append(parts, "the port is "+l.computedBy(l.portBy, l.ContainerPort))
	}
	return strings.Join(parts, "; ")
}

// bindNote adds how the bind port was found to a published port.
func (l *Listener) bindNote() string {
	switch {
	case l.bindDiffers:
		return fmt.Sprintf(" (it binds %d, advertises %d)", l.ContainerPort, l.Port)
	case l.bindDerived:
		return fmt.Sprintf(" (%s unset: the listener binds its advertised port, as the confluentinc image derives it)", l.bindFrom)
	}
	return ""
}

// whyPublished says where the container port is published.
func (l *Listener) whyPublished() string {
	if l.hostNet {
		return fmt.Sprintf("network_mode host: port %d is on the host", l.ContainerPort)
	}
	return fmt.Sprintf("container port %d published as %s", l.ContainerPort, l.Published)
}

// whyUnpublished says why the container port is not published where the
// host reaches it.
func (l *Listener) whyUnpublished() string {
	switch l.pub.reach {
	case ReachRandomPort:
		return fmt.Sprintf("is published on a random host port: pin it (\"HOSTPORT:%d\") or look it up with docker compose port", l.ContainerPort)
	case ReachPortRange:
		return "is published on a port range (" + l.pub.published + "), from which docker picks one: publish it on one port"
	case ReachBadPort:
		return fmt.Sprintf("is published on %q, which is not a port", l.pub.published)
	case ReachRemoteLoopback:
		if l.Port < 0 {
			return fmt.Sprintf("is published on the Docker host's %s only, which this machine does not reach", l.pub.hostIP)
		}
		return fmt.Sprintf("is published on the Docker host's %s only (%s:%s), which this machine does not reach; dial it through an SSH hop to the Docker host", l.pub.hostIP, l.pub.hostIP, l.pub.published)
	}
	return "is not published"
}

func (c *Conflict) String() string {
	if c.Published {
		return fmt.Sprintf("%s, which service %s publishes", c.Addr, c.Service)
	}
	return fmt.Sprintf("%s, which service %s advertises", c.Addr, c.Service)
}

// Explain says in words how this host reaches the listener (the
// published port, the service in between, what the rule keeps), or why
// it cannot and what would change that.
func (l *Listener) Explain() string {
	var b strings.Builder
	l.explain(&b)
	return b.String()
}

func (l *Listener) explain(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	switch l.Reach {
	case ReachMetaAddress:
		refuses := ""
		if l.kind == Kafka {
			refuses = " (Kafka refuses to start with it)"
		}
		p("listener %s advertises %s, the non-routable meta-address, which no client can dial%s; advertise a name, such as the service's: %s", l.Name, l.Host, refuses, l.service)
		return
	case ReachNotBound:
		p("listener %s is advertised but not in %s, so no port serves it", l.Name, l.bindFrom)
		return
	case ReachBindComputed:
		p("listener %s binds a port computed at container start, so no published port can be told", l.Name)
		return
	case ReachBindUnknown:
		p("listener %s advertises a port computed at container start and %s is unset, so the port it binds cannot be told", l.Name, l.bindFrom)
		return
	case ReachComputed:
		p("listener %s advertises an address computed at container start (%s): no rule can be written before it runs; once it does, kafkadial probe shows what it advertises", l.Name, l.Computed())
		return
	case ReachHostShared:
		p("listener %s advertises %s (%s); a rule for host %s alone would also take %s", l.Name, l.Advertised, l.Computed(), l.Host, l.other)
		return
	case ReachPortShared:
		p("listener %s: %s; its port %d is published as %s, but a rule for port %d alone would also take %s", l.Name, l.Computed(), l.Port, l.sharedPub, l.Port, l.other)
		return
	case ReachNoRule:
		switch l.noRule {
		case noRuleHost:
			p("listener %s advertises host %s, which no rule can hold: %v", l.Name, l.Host, l.err)
		case noRuleAddr:
			p("listener %s advertises %s: %v", l.Name, l.Advertised, l.err)
		default:
			p("listener %s advertises %s, for which no rule can be written: %v", l.Name, l.Advertised, l.err)
		}
		return
	case ReachUnpublished, ReachRandomPort, ReachPortRange, ReachBadPort, ReachRemoteLoopback:
		switch {
		case l.Port < 0:
			p("listener %s advertises %s, whose %s; but container port %d %s", l.Name, l.Advertised, l.Computed(), l.ContainerPort, l.whyUnpublished())
		case l.hostBy != computedNot:
			p("listener %s: %s; container port %d %s", l.Name, l.Computed(), l.ContainerPort, l.whyUnpublished())
		default:
			p("listener %s: container port %d %s%s", l.Name, l.ContainerPort, l.whyUnpublished(), l.bindNote())
		}
		l.explainAdvice(b)
		return

	case ReachAnyPort:
		how := "network_mode host"
		switch {
		case l.hostNet:
		case l.pub.published == "":
			how = "published on a host port docker picks, on " + l.pub.hostIP
		default:
			how = "published on " + l.pub.hostIP + ":" + l.pub.published
		}
		p("listener %s advertises %s: %s, taken to be the host port docker publishes container port %d on (%s), which this rule keeps while it moves the host; bootstrap from the port docker compose port %s %d prints", l.Name, l.Advertised, l.Computed(), l.ContainerPort, how, l.service, l.ContainerPort)
	case ReachAnyHost:
		p("listener %s advertises %s: %s; whatever it is, port %d is this listener's alone here, %s%s, so the rule takes any host on port %d", l.Name, l.Advertised, l.Computed(), l.Port, l.whyPublished(), l.bindNote(), l.Port)
		if l.hostBy == computedHostname {
			p("; with hostname: %s on service %s the broker would advertise %s:%d and the rule %s:%d => %s could be exact", l.service, l.service, l.service, l.Port, l.service, l.Port, l.Published)
		}
	case ReachPublished, ReachHostNetwork, ReachHostPort, ReachProxy, ReachNamedService:
		switch l.Reach {
		case ReachHostPort:
			p("listener %s: host port %d is published by this service, from its container port %d", l.Name, l.Port, l.via.containerPort)
		case ReachProxy:
			p("listener %s: host port %d is published by service %s (%s), from its container port %d: the connection goes through %s, which must forward it to this broker", l.Name, l.Port, l.via.service, l.via.image, l.via.containerPort, l.via.service)
		case ReachNamedService:
			p("listener %s: %s names service %s (%s), which publishes its port %d as %s: the connection goes through %s, which must forward it to this broker", l.Name, l.Host, l.via.service, l.via.image, l.Port, l.Published, l.via.service)
		default:
			p("listener %s, %s%s", l.Name, l.whyPublished(), l.bindNote())
		}
		if l.asAdvertised {
			p("; reachable as advertised")
			if strings.EqualFold(l.Host, "localhost") {
				p(": the rule pins IPv4, since localhost may resolve to ::1 first")
			}
		}
		if l.quoted {
			p("; the host is written in quotes, so the rule matches it literally")
			if strings.Contains(l.Host, hostPlaceholder) {
				p("; " + hostPlaceholder + " is the placeholder wurstmeister/kafka's start script fills with HOSTNAME_COMMAND's output, but HOSTNAME_COMMAND is not set, so the broker is told the name as written")
			}
		}
	default:
		p("listener %s: %s", l.Name, l.Reach)
		return
	}
	if strings.HasPrefix(l.Protocol, "SASL") {
		p("; clients authenticate with SASL")
	}
	if strings.HasSuffix(l.Protocol, "SSL") {
		p("; TLS verifies %s (the advertised name, which the rule keeps)", l.Host)
	}
	if l.RandomPort && l.Rule != "" {
		p("; a random host port, which changes when the container restarts (the Docker resolver follows it)")
	}
}

// explainAdvice says what reaching an unpublished listener would take.
func (l *Listener) explainAdvice(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	switch a := l.advice; {
	case len(l.servedBy) > 0:
		p(": it serves containers on its network; host clients use listener %s", strings.Join(l.servedBy, ", "))
	case a == nil:
	case l.docker:
		p("; to reach it from the host, publish it (docker run -p 127.0.0.1::%d, or compose ports: [\"%d\"])", l.ContainerPort, l.ContainerPort)
		if a.again {
			p(", then run this command again")
		}
	default:
		hostPort, free := "HOSTPORT", " (HOSTPORT a host port no service publishes yet)"
		if a.hostPort > 0 {
			hostPort, free = fmt.Sprint(a.hostPort), ""
		}
		p("; to reach it from the host, publish it (ports: - \"%s:%d\" on service %s%s)", hostPort, l.ContainerPort, a.service, free)
		switch {
		case a.rule != "":
			p(" and the rule %s would do the rest: what it advertises can stay", a.rule)
		case a.again:
			p(", then run this command again")
		}
	}
}

// String says the problem in words.
func (p Problem) String() string {
	switch p.Code {
	case ProblemSyntax:
		if p.err != nil {
			return p.err.Error()
		}
	case ProblemBadPort:
		return fmt.Sprintf("%s: %q is not a port", p.setting, p.value)
	case ProblemUnreadable:
		return fmt.Sprintf("its %s cannot be read: %s", unreadableName(p.prop), cannotTell)
	case ProblemImageConfig:
		if len(p.names) == 2 {
			return fmt.Sprintf("neither %s nor %s is set here: the image's own configuration decides what it advertises, which this command cannot see: %s", p.names[0], p.names[1], cannotTell)
		}
	case ProblemLegacySettings:
		return fmt.Sprintf("%s: the apache/kafka image runs Kafka 3.7 or later, which no longer reads advertised.host.name or advertised.port (removed in Kafka 3.0); set %s", p.setting, p.want)
	case ProblemForeignNetwork:
		return fmt.Sprintf("network_mode %s: the ports are those of a container outside this project, which this command cannot see", p.value)
	case ProblemNoProtocol:
		return fmt.Sprintf("listener %s has no security protocol in %s (Kafka refuses to start)", p.listener, p.setting)
	case ProblemScale:
		return fmt.Sprintf("scale %d: every replica advertises the same addresses, so clients cannot tell them apart", p.n)
	case ProblemSharedAddress:
		return fmt.Sprintf("%s is advertised by service %s too: one address cannot reach two brokers, so only %s's rule is kept", p.addr, p.service, p.service)
	case ProblemUnreachable:
		return "the host reaches none of the addresses this broker advertises"
	case ProblemNotRunning:
		return fmt.Sprintf("the container is %s: its ports are published only while it runs (docker start %s)", p.value, p.service)
	}
	return p.Code.String()
}

const cannotTell = "this command cannot tell what it advertises"

// unreadableName names a setting that cannot be read: its property's
// words (advertised.listeners: advertised listeners), or the flag.
func unreadableName(prop string) string {
	return strings.ReplaceAll(prop, ".", " ")
}

// String says the assumption in words.
func (a Assumption) String() string {
	const wholeConfig = "the environment is taken as the whole configuration"
	switch a.Code {
	case AssumedMissingFile:
		return fmt.Sprintf("%s, mounted at %s, is not there: %s", a.file.Path, a.file.MountedAt, wholeConfig)
	case AssumedUnreadableFile:
		return fmt.Sprintf("%s, mounted at %s, cannot be read (%v): %s", a.file.Path, a.file.MountedAt, a.err, wholeConfig)
	case AssumedControllerListener:
		return fmt.Sprintf("%s is not set here: listener CONTROLLER is taken as the controller listener, as the images' own server.properties name it", a.setting)
	case AssumedDefaultPort:
		return fmt.Sprintf("%s is not set: the broker listens on 9092, Kafka's default port", a.setting)
	case AssumedRedpandaBind:
		return "--kafka-addr is not given: Redpanda listens on 0.0.0.0:9092, its default, unless the image's redpanda.yaml says otherwise"
	case AssumedRedpandaAdvertise:
		return "--advertise-kafka-addr is not given: Redpanda advertises its --kafka-addr"
	case AssumedPlaintext:
		return fmt.Sprintf("%s is not set here: listener %s is taken as PLAINTEXT (the image's own server.properties must map it, or Kafka refuses to start)", a.setting, a.listener)
	case AssumedHostname:
		return fmt.Sprintf("%s gives listener %s no host: the broker advertises its hostname, %s (hostname:)", a.setting, a.listener, a.hostname)
	case AssumedReplicas:
		return fmt.Sprintf("%s run the same compose service (replicas): what is said of %s holds for each, with its own published ports", strings.Join(a.replicas, ", "), a.service)
	}
	return a.Code.String()
}

// String says where the file is and what it counts for.
func (f ConfigFile) String() string {
	return fmt.Sprintf("%s, mounted at %s (the environment wins where both set a value)", f.Path, f.MountedAt)
}
