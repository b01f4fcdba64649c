package discover

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
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
	p, random, missing := dockerProject(s, c.containers, c.project)
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
	res := derive(p, c)
	res.Sources = []string{"docker engine at " + s.Host}
	res.Engine = s.Host
	for i := range res.Services {
		sv := &res.Services[i]
		st := p.Services[sv.Name]
		sv.State = st.Labels["state"]
		if len(st.Labels) > 0 && st.Labels["state"] != "running" {
			sv.Problems = append(sv.Problems, fmt.Sprintf("the container is %s: its ports are published only while it runs (docker start %s)", st.Labels["state"], sv.Name))
			res.ok = false
		}
		if r := st.Labels["replicas"]; r != "" {
			sv.Replicas = strings.Split(r, ", ")
			sv.Assumed = append(sv.Assumed, fmt.Sprintf("%s run the same compose service (replicas): what is said of %s holds for each, with its own published ports", r, sv.Name))
		}
		for j := range sv.Listeners {
			l := &sv.Listeners[j]
			l.docker = true
			l.RandomPort = l.Rule != "" && random[sv.Name+"/"+strconv.Itoa(l.ContainerPort)]
		}
	}
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

// dockerProject turns containers into a compose project for derive:
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
