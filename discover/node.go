package discover

import "strings"

// node is discovery's model of one machine that may run Kafka or
// Redpanda: a compose service or a container, with what a client's view
// of it depends on. Two front ends fill it in (composeNodes in compose.go
// from a compose-go project, dockerNodes in docker.go from an engine
// snapshot); the derivation (kafka.go, reach.go, derive.go) reads nodes
// only.
//
// It stays unexported: Compose, Project and Docker are how a caller
// names nodes, and a type of this package that a caller fills in would
// freeze a model that grows with what discovery learns to read.
type node struct {
	name  string // the compose service's or the container's name
	image string
	// hostname is the name its containers have (hostname:, or the
	// container's); "" when each container's id is its hostname.
	hostname string
	// aliases are its other names on its networks: container_name:,
	// network aliases.
	aliases []string
	// env is its environment; a variable listed without a value is "".
	env map[string]string
	// command is the entrypoint followed by the command, as given.
	command []string
	// mounts are the volumes it mounts: all of a compose service's; a
	// container's bind mounts, on an engine that runs on this machine
	// (elsewhere its host paths are not this machine's).
	mounts []mount
	// dir is the project directory, relative to which host paths are
	// shown; "" for a container.
	dir string
	// networkMode is network_mode as compose writes it: "" (its own
	// networks), "host", "service:NAME" or "container:ID".
	networkMode string
	// ports are the container ports it publishes.
	ports []port
	// scale is how many containers run it when set (compose's scale:,
	// or the containers of a scaled compose service on an engine); 0
	// when unset.
	scale int

	// From a Docker engine only.
	engine   bool         // read from an engine: advice in docker run's words
	state    string       // the container's state: running, exited...
	replicas []string     // the other containers of its scaled compose service
	random   map[int]bool // the container ports the engine picked a host port for
}

// port is a container port published on the Docker host.
type port struct {
	target int // the container port
	// published is the host port as written: "9092", "" (docker picks
	// one), a range "9000-9010", or what else a file says.
	published string
	hostIP    string // the host address it is bound to, "" for all
	protocol  string // "tcp", "udp"...; "" means tcp
}

// tcp says whether the port carries TCP.
func (p port) tcp() bool { return p.protocol == "" || p.protocol == "tcp" }

// mount is a volume a node mounts.
type mount struct {
	bind   bool   // a bind mount of a host path
	source string // a bind mount's host path (absolute when the front end knows the directory)
	target string // the path in the container
}

// names are the names a node answers to on its networks.
func (n *node) names() []string {
	return append([]string{n.name, n.hostname}, n.aliases...)
}

// parseEnv reads "KEY=value" entries (a container's environment) as a
// node's env: a later entry wins, an entry without '=' is set empty.
func parseEnv(entries []string) map[string]string {
	env := make(map[string]string, len(entries))
	for _, e := range entries {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	return env
}
