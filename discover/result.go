package discover

import (
	"strings"

	"github.com/kafkadial/kafkadial/rules"
)

// Result is what discovery found in a compose project or on a Docker
// engine: every Kafka and Redpanda node, with its listeners and how the
// host reaches each.
type Result struct {
	// Sources are where the nodes were read from: the compose files
	// loaded, or "docker engine at HOST".
	Sources []string
	// Engine is the Docker engine's address (Docker only).
	Engine string
	// Services are the Kafka and Redpanda nodes, by name: compose
	// services, or containers (the replicas of a scaled compose service
	// are one).
	Services []Service
	// Warnings are what compose-go warned about while loading the
	// project (Compose only), in its words.
	Warnings []string

	rules     []string
	bootstrap []string
	ok        bool
}

// Rules returns the rules that let this host reach each address the
// brokers advertise, in the order of the services and their listeners:
// rule-language text (one rule a string) that [dialer.WithRules] accepts
// joined by newlines.
//
// [dialer.WithRules]: https://pkg.go.dev/github.com/kafkadial/kafkadial/dialer#WithRules
func (r *Result) Rules() []string { return r.rules }

// Bootstrap returns the published addresses a client on this host can
// bootstrap from: one per listener with a rule, as the rules send them.
func (r *Result) Bootstrap() []string { return r.bootstrap }

// OK reports whether there is a broker and every broker (controllers
// aside) has an advertised address the host reaches (and, on a Docker
// engine, every container runs).
func (r *Result) OK() bool { return r.ok }

// PassRules returns "ADDR => =" for each bootstrap address that no rule
// of Rules matches already: with them, a strict dialer
// (dialer.WithStrict) also dials the bootstrap addresses as they are.
func (r *Result) PassRules() []string {
	rs, errs := rules.Parse("derived", strings.Join(r.rules, "\n"))
	if len(errs) > 0 {
		return nil // cannot happen: every rule was checked alone
	}
	table := rules.NewTable(rs)
	var (
		out  []string
		seen = map[string]bool{}
	)
	for _, b := range r.bootstrap {
		if seen[b] {
			continue
		}
		seen[b] = true
		if m, _, err := table.Lookup(b); err == nil && m != nil {
			continue
		}
		out = append(out, b+" => =")
	}
	return out
}

// Kind is what software a node runs.
type Kind string

// The kinds of node discovery reads.
const (
	Kafka    Kind = "Kafka"
	Redpanda Kind = "Redpanda"
)

// Role is a node's part in the cluster, as clients see it.
type Role string

const (
	// Broker serves clients.
	Broker Role = "broker"
	// Controller is a KRaft controller-only node: clients never dial
	// it, so it has no listeners and no rules.
	Controller Role = "controller"
)

// Service is one Kafka or Redpanda node: a compose service, or a
// container.
type Service struct {
	Name  string
	Image string
	Kind  Kind
	Role  Role
	// Roles is process.roles as set, "" when unset; for a controller,
	// with where it is set (KAFKA_PROCESS_ROLES=controller).
	Roles string
	// Read are the configuration files read besides the compose file
	// (a mounted server.properties).
	Read []ConfigFile
	// Assumed says what was taken for settings that are absent, or
	// files that cannot be read.
	Assumed []Assumption
	// Problems are configuration that discovery cannot follow, or that
	// stops the node or its clients.
	Problems []Problem
	// Listeners are the listeners clients are told of (controller
	// listeners aside), in the order the configuration lists them.
	Listeners []Listener

	// State is the container's state (Docker only): running, exited...
	State string
	// Replicas are the other containers of the same scaled compose
	// service (Docker only); what is said of this one holds for each,
	// with its own published ports.
	Replicas []string
}

func (s *Service) problem(p Problem) { s.Problems = append(s.Problems, p) }

func (s *Service) assume(a Assumption) { s.Assumed = append(s.Assumed, a) }

// Listener is one advertised listener of a broker and how this host
// reaches it.
type Listener struct {
	// Name is the listener's name (PLAINTEXT_HOST), "(unnamed)" for a
	// Redpanda address without one.
	Name string
	// Protocol is its security protocol (Kafka only): PLAINTEXT, SSL,
	// SASL_PLAINTEXT, SASL_SSL, or "?" when the configuration maps none.
	Protocol string
	// Host and Port are the advertised host and port as configured: Host
	// may hold a placeholder computed at container start, and Port is -1
	// when computed at container start.
	Host string
	Port int
	// Advertised is the address clients are told, as written; a part
	// computed at start shows as <port> or <container hostname>.
	Advertised string
	// ContainerPort is the port the listener binds in the container.
	ContainerPort int
	// Published is the host address that reaches it, "" when none does.
	Published string
	// Rule sends Advertised to Published; "" when the host cannot reach
	// the listener.
	Rule string
	// Reach says how this host reaches the listener, or why it cannot;
	// Explain says it in words.
	Reach Reach
	// TakenBy names the service that advertises the same address and
	// keeps the rule for it: one address cannot reach two brokers. Rule
	// is then empty, whatever Reach says.
	TakenBy string
	// RandomPort: the engine picked the host port (Docker only); it
	// changes when the container restarts.
	RandomPort bool

	reachable bool
	docker    bool // read from a Docker engine: advice in docker run's words
	kind      Kind
	service   string // the listener's service
	portsOf   string // the service whose ports: publish the listener's
	bindFrom  string // where the bind ports come from, e.g. KAFKA_LISTENERS

	// What computes part of the address at container start.
	hostBy, portBy, bindBy   computer
	hostCommand, portCommand string // HOSTNAME_COMMAND and PORT_COMMAND as set

	bindDiffers  bool     // it binds ContainerPort and advertises Port
	bindDerived  bool     // no bind ports set: it binds the advertised one
	hostNet      bool     // network_mode host
	pub          pubState // why the container port is not published, or (ReachAnyPort) how
	via          via
	other        *Conflict // ReachHostShared, ReachPortShared
	sharedPub    string    // ReachPortShared: the published address
	err          error     // ReachNoRule
	noRule       noRule
	asAdvertised bool // the host reaches the advertised address as it is
	quoted       bool // the rule writes the host in quotes
	unpublished  bool // not published: advice depends on the other listeners
	servedBy     []string
	advice       *advice
}

// Reachable reports whether this host reaches the advertised address
// (through Rule).
func (l *Listener) Reachable() bool { return l.reachable }
