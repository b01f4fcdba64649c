package docker

import (
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// Container is what the resolver knows of one container, as the engine
// reported it at its last event. Slices and maps are shared: read them, do
// not change them.
type Container struct {
	ID          string `json:"id"`
	Name        string `json:"name"` // without the leading "/"
	Image       string `json:"image"`
	Hostname    string `json:"hostname"`
	State       string `json:"state"`             // running, exited, created, paused, restarting, dead
	Service     string `json:"service,omitempty"` // compose service (label com.docker.compose.service)
	Project     string `json:"project,omitempty"` // compose project (label com.docker.compose.project)
	NetworkMode string `json:"network_mode,omitempty"`
	// Env is the container's environment. It often holds secrets, so it
	// never goes into JSON (a Snapshot marshalled for a report or a log
	// leaves it out).
	Env      []string          `json:"-"`
	Labels   map[string]string `json:"labels,omitempty"`
	Networks []Network         `json:"networks"` // sorted by name
	Ports    []Port            `json:"ports"`    // TCP ports, exposed or published, sorted
	// Entrypoint and Cmd are what the container runs (the image's
	// defaults where the container sets none).
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Mounts     []Mount  `json:"mounts,omitempty"` // as the engine reports them
}

// Mount is a file system mounted into a container.
type Mount struct {
	Type        string `json:"type"`        // bind, volume, tmpfs, ...
	Source      string `json:"source"`      // a bind mount's path on the engine's host; a volume's storage
	Destination string `json:"destination"` // where the container sees it
}

// Running reports whether the container runs (and is not paused).
func (c *Container) Running() bool { return c.State == "running" }

// ShortID is the first 12 characters of the ID, as docker ps shows it.
func (c *Container) ShortID() string {
	if len(c.ID) > 12 {
		return c.ID[:12]
	}
	return c.ID
}

// Network is a container's endpoint on one network.
type Network struct {
	Name    string     `json:"name"`
	Aliases []string   `json:"aliases,omitempty"`
	IPv4    netip.Addr `json:"ipv4,omitzero"`
	IPv6    netip.Addr `json:"ipv6,omitzero"`
}

// Port is a container's TCP port: exposed by its image or configuration,
// published on the host, or both.
type Port struct {
	Port     int       `json:"port"`
	Bindings []Binding `json:"bindings,omitempty"` // as the engine reports them
	// Published are the addresses this process dials to reach the port
	// through its bindings: 0.0.0.0 and :: become loopback for a local
	// engine and the engine's host for a remote one; duplicates are
	// dropped.
	Published []string `json:"published,omitempty"`
	// Random: the engine chose the host port (-p 127.0.0.1::29092, compose
	// ports: ["29092"]); it changes when the container restarts.
	Random bool `json:"random,omitempty"`
}

// Binding is one host address that publishes a container port.
type Binding struct {
	HostIP   string `json:"host_ip"`
	HostPort int    `json:"host_port"`
}

// entry is a container with what lookups need precomputed.
type entry struct {
	c         Container
	published map[int][]string // container port -> Published
	all       map[int][]string // container port -> Published, then the network addresses (for known ports)
	addrs     []string         // addresses on its networks, as host strings (v6 bracketed later)
	hostNet   bool             // network_mode host: ports are on the engine's host
	skipped   map[int]string   // container port -> why its bindings give no address
}

// Match levels, best first: a name at a better level wins over a worse one.
const (
	levelID = iota
	levelName
	levelAlias
	levelHostname
	levelService
	levelAddr
	numLevels
)

var levelNames = [numLevels]string{"id", "name", "alias", "hostname", "compose service", "address"}

type hit struct {
	e     *entry
	level int
}

// table is an immutable index of the engine's containers; the resolver
// swaps in a new one on every change, so lookups take no lock.
type table struct {
	byKey   map[string][]hit // canonical key -> matches, best level first
	entries []*entry         // sorted by name
}

// hosts says how bindings become dialable addresses.
type hosts struct {
	remote     bool
	engineHost string // a remote engine's host, for bindings on all interfaces
}

// newEntry builds an entry from an inspect response.
func newEntry(in *container.InspectResponse, h hosts) *entry {
	c := Container{ID: in.ID, Name: strings.TrimPrefix(in.Name, "/")}
	if in.State != nil {
		c.State = string(in.State.Status)
		if in.State.Paused {
			c.State = "paused"
		}
	}
	if in.Config != nil {
		c.Image = in.Config.Image
		c.Hostname = in.Config.Hostname
		c.Env = in.Config.Env
		c.Labels = in.Config.Labels
		c.Service = in.Config.Labels["com.docker.compose.service"]
		c.Project = in.Config.Labels["com.docker.compose.project"]
		c.Entrypoint, c.Cmd = in.Config.Entrypoint, in.Config.Cmd
	}
	for _, m := range in.Mounts {
		c.Mounts = append(c.Mounts, Mount{Type: string(m.Type), Source: m.Source, Destination: m.Destination})
	}
	e := &entry{published: map[int][]string{}, all: map[int][]string{}, skipped: map[int]string{}}
	ports := map[int]*Port{}
	port := func(p network.Port) *Port {
		if p.Proto() != network.TCP {
			return nil
		}
		n := int(p.Num())
		if ports[n] == nil {
			ports[n] = &Port{Port: n}
		}
		return ports[n]
	}
	if in.Config != nil {
		for p := range in.Config.ExposedPorts {
			port(p)
		}
	}
	if in.HostConfig != nil {
		c.NetworkMode = string(in.HostConfig.NetworkMode)
		e.hostNet = c.NetworkMode == "host"
		for p, bs := range in.HostConfig.PortBindings {
			pp := port(p)
			if pp == nil {
				continue
			}
			for _, b := range bs {
				if b.HostPort == "" || b.HostPort == "0" {
					pp.Random = true
				}
			}
		}
	}
	if ns := in.NetworkSettings; ns != nil {
		for p, bs := range ns.Ports {
			pp := port(p)
			if pp == nil {
				continue
			}
			for _, b := range bs {
				hp, err := strconv.Atoi(b.HostPort)
				if err != nil || hp <= 0 || hp > 65535 {
					continue
				}
				ip := ""
				if b.HostIP.IsValid() {
					ip = b.HostIP.String()
				}
				pp.Bindings = append(pp.Bindings, Binding{HostIP: ip, HostPort: hp})
			}
		}
		for name, ep := range ns.Networks {
			if ep == nil {
				continue
			}
			n := Network{Name: name, Aliases: ep.Aliases, IPv4: ep.IPAddress, IPv6: ep.GlobalIPv6Address}
			c.Networks = append(c.Networks, n)
		}
	}
	slices.SortFunc(c.Networks, func(a, b Network) int { return strings.Compare(a.Name, b.Name) })
	for _, n := range c.Networks {
		if n.IPv4.IsValid() && !n.IPv4.IsUnspecified() {
			e.addrs = append(e.addrs, n.IPv4.String())
		}
		if n.IPv6.IsValid() && !n.IPv6.IsUnspecified() {
			e.addrs = append(e.addrs, n.IPv6.String())
		}
	}
	for _, n := range slices.Sorted(maps.Keys(ports)) {
		p := ports[n]
		p.Published, e.skipped[n] = publishedAddrs(p.Bindings, h)
		if len(p.Published) > 0 {
			e.published[n] = p.Published
		}
		c.Ports = append(c.Ports, *p)
		// The answer for a known port, computed once: a hit only copies it.
		all := slices.Clone(p.Published)
		for _, a := range e.addrs {
			all = append(all, net.JoinHostPort(a, strconv.Itoa(n)))
		}
		if len(all) > 0 {
			e.all[n] = all
		}
	}
	e.c = c
	return e
}

// publishedAddrs turns a port's bindings into addresses to dial, best
// first: IPv4 before IPv6, in the engine's order otherwise. why says what
// made bindings unusable when none is left.
func publishedAddrs(bs []Binding, h hosts) (addrs []string, why string) {
	var v4, v6 []string
	add := func(list *[]string, a string) {
		if !slices.Contains(v4, a) && !slices.Contains(v6, a) {
			*list = append(*list, a)
		}
	}
	// A port bound on all interfaces of both families (docker run -p 9093
	// makes 0.0.0.0 and :: bindings on one host port) is one address.
	wild4 := map[int]bool{}
	for _, b := range bs {
		if b.HostIP == "" || b.HostIP == "0.0.0.0" {
			wild4[b.HostPort] = true
		}
	}
	for _, b := range bs {
		port := strconv.Itoa(b.HostPort)
		ip, err := netip.ParseAddr(b.HostIP)
		switch {
		case b.HostIP == "" || err == nil && ip.IsUnspecified():
			if h.remote {
				add(&v4, net.JoinHostPort(h.engineHost, port))
			} else if ip.Is6() && !wild4[b.HostPort] {
				add(&v6, net.JoinHostPort("::1", port))
			} else {
				add(&v4, net.JoinHostPort("127.0.0.1", port))
			}
		case err != nil:
			why = "the engine reports host address " + strconv.Quote(b.HostIP)
		case h.remote && ip.IsLoopback():
			why = "it is published on the remote engine's loopback (" + b.HostIP + ") only, which this host cannot reach"
		case ip.Is4() || ip.Is4In6():
			add(&v4, net.JoinHostPort(ip.Unmap().String(), port))
		default:
			add(&v6, net.JoinHostPort(ip.String(), port))
		}
	}
	return append(v4, v6...), why
}

// newTable indexes entries by every name and address they answer to.
func newTable(entries []*entry) *table {
	t := &table{byKey: map[string][]hit{}, entries: entries}
	slices.SortFunc(t.entries, func(a, b *entry) int { return strings.Compare(a.c.Name, b.c.Name) })
	add := func(key string, e *entry, level int) {
		key = canonical(key)
		if key == "" {
			return
		}
		hs := t.byKey[key]
		for i, h := range hs {
			if h.e == e {
				if level < h.level {
					hs[i].level = level
				}
				return
			}
		}
		t.byKey[key] = append(hs, hit{e, level})
	}
	for _, e := range t.entries {
		c := &e.c
		add(c.ID, e, levelID)
		add(c.ShortID(), e, levelID)
		add(c.Name, e, levelName)
		for _, n := range c.Networks {
			for _, a := range n.Aliases {
				add(a, e, levelAlias)
			}
		}
		add(c.Hostname, e, levelHostname)
		add(c.Service, e, levelService)
		for _, n := range c.Networks {
			if n.IPv4.IsValid() && !n.IPv4.IsUnspecified() {
				add(n.IPv4.String(), e, levelAddr)
			}
			if n.IPv6.IsValid() && !n.IPv6.IsUnspecified() {
				add(n.IPv6.String(), e, levelAddr)
			}
		}
	}
	for k, hs := range t.byKey {
		slices.SortStableFunc(hs, func(a, b hit) int { return a.level - b.level })
		t.byKey[k] = hs
	}
	return t
}

// canonical is the form names are compared in: lower case, no trailing
// dot, IP addresses in their canonical text.
func canonical(host string) string {
	host = strings.TrimSuffix(host, ".")
	if maybeIP(host) {
		if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
			return a.Unmap().String()
		}
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}

// maybeIP says whether host may be an IP address: IPv6 has a colon, IPv4
// only digits and dots. (ParseAddr's error for a name allocates.)
func maybeIP(host string) bool {
	if strings.IndexByte(host, ':') >= 0 {
		return true
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return host != ""
}

// find picks the container a host names: the best-level running match;
// when none runs, the best match (which the caller reports as stopped).
// More than one running container at the best level is ambiguous.
func (t *table) find(host string) (best *entry, level int, others []*entry) {
	hs := t.byKey[canonical(host)]
	if len(hs) == 0 {
		return nil, -1, nil
	}
	for i, h := range hs {
		if !h.e.c.Running() {
			continue
		}
		best, level = h.e, h.level
		for _, o := range hs[i+1:] {
			if o.level == level && o.e.c.Running() {
				others = append(others, o.e)
			}
		}
		return best, level, others
	}
	return hs[0].e, hs[0].level, nil
}
