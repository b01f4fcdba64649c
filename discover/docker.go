package discover

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/kafkadial/kafkadial/resolver/docker"
)

// NotFoundError is Docker's error when containers named by WithContainers
// are not on the engine.
type NotFoundError struct {
	Engine string   // the engine's address
	Names  []string // the names, as given, that no container has
}

func (e *NotFoundError) Error() string {
	q := make([]string, len(e.Names))
	for i, n := range e.Names {
		q[i] = strconv.Quote(n)
	}
	return fmt.Sprintf("discover: no container %s on the engine at %s", strings.Join(q, ", "), printable(e.Engine))
}

// Docker discovers the Kafka and Redpanda nodes among the containers of a
// Docker engine snapshot (docker.Resolver's Snapshot): their environment,
// command, hostname, network aliases, the host ports the engine actually
// published (random ones included) and, on a local engine, the files they
// bind-mount. Running containers are taken, or those named by
// WithContainers (running or not); the replicas of a scaled compose
// service are one Service.
func Docker(s docker.Snapshot, opts ...Option) (*Result, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	nodes, missing := dockerNodes(s, c.containers, c.project)
	if len(missing) > 0 {
		return nil, &NotFoundError{Engine: s.Host, Names: missing}
	}
	if c.address == nil {
		lb := "127.0.0.1"
		if h, ok := remoteHost(s); ok {
			lb = h
		}
		c.address = &lb
	}
	res := derive(nodes, c)
	res.Sources = []string{"docker engine at " + s.Host}
	res.Engine = s.Host
	return res, nil
}

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

// dockerNodes is the Docker front end: a node per container (named
// after it; the replicas of a scaled compose service are one node with a
// scale, as in the compose file) with its environment, command, hostname,
// network aliases, actual port bindings and, on a local engine, bind
// mounts. Running containers are taken, or those named (running or not);
// missing are the names no container has.
func dockerNodes(s docker.Snapshot, names []string, project string) (nodes []*node, missing []string) {
	// A bind mount's source is a path on the engine's host: read it only
	// when that is this machine.
	_, remote := remoteHost(s)
	remote = remote || strings.HasPrefix(s.Host, "ssh://")
	want := map[string]bool{}
	for _, n := range names {
		want[strings.TrimPrefix(n, "/")] = true
	}
	found := map[string]bool{}
	type first struct {
		n *node
		c docker.Container
	}
	replicas := map[string]first{} // compose project/service -> its latest first container
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
		// same configuration) are one node with a scale, as in the
		// compose file; the first one's ports stand for all.
		key := ""
		if c.Project != "" && c.Service != "" {
			key = c.Project + "/" + c.Service
			if f, ok := replicas[key]; ok && sameConfig(f.c, c) {
				f.n.replicas = append(f.n.replicas, c.Name)
				f.n.scale = len(f.n.replicas) + 1
				// Each has its own hostname (its container id), as a
				// compose service without hostname: has.
				f.n.hostname = ""
				continue
			}
		}
		n := &node{name: c.Name, image: c.Image, hostname: c.Hostname, env: parseEnv(c.Env),
			engine: true, state: c.State, random: map[int]bool{},
			// What it runs: Redpanda's listeners are flags of its command,
			// a Kafka command may name a properties file.
			command: append(slices.Clone(c.Entrypoint), c.Cmd...)}
		if c.NetworkMode == "host" {
			n.networkMode = "host"
		}
		// On a local engine, the files it mounts from this host.
		if !remote {
			for _, m := range c.Mounts {
				if m.Type == "bind" && m.Source != "" && m.Destination != "" {
					n.mounts = append(n.mounts, mount{bind: true, source: m.Source, target: m.Destination})
				}
			}
		}
		// Its names on each network (compose's service name among them),
		// so that an address naming a proxy container is followed to it.
		for _, nw := range c.Networks {
			n.aliases = append(n.aliases, nw.Aliases...)
		}
		for _, p := range c.Ports {
			for _, b := range p.Bindings {
				n.ports = append(n.ports, port{target: p.Port, published: strconv.Itoa(b.HostPort), hostIP: b.HostIP, protocol: "tcp"})
			}
			if p.Random {
				n.random[p.Port] = true
			}
		}
		if key != "" {
			replicas[key] = first{n, c}
		}
		nodes = append(nodes, n)
	}
	for _, n := range names {
		if !found[strings.TrimPrefix(n, "/")] {
			missing = append(missing, n)
		}
	}
	return nodes, missing
}

// sameConfig says whether two containers run the same configuration.
func sameConfig(a, b docker.Container) bool {
	return a.Image == b.Image && slices.Equal(a.Env, b.Env) && slices.Equal(a.Entrypoint, b.Entrypoint) && slices.Equal(a.Cmd, b.Cmd)
}
