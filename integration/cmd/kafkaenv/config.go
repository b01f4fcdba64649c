package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
)

// listener is one client listener of a node: where it binds and what it
// advertises.
type listener struct {
	name       string
	bind       string // host:port to listen on; an empty host is every address
	advertised string // host:port
}

// node is what one container serves.
type node struct {
	kind       string // "Kafka" or "Redpanda"
	id         int32  // -1 when the configuration names none
	controller string // a KRaft controller-only node: why; it serves no clients
	listeners  []listener
	notes      []string // where settings came from, what was assumed
}

func (n *node) note(format string, args ...any) {
	n.notes = append(n.notes, fmt.Sprintf(format, args...))
}

// propsFiles are where the images read a mounted server.properties from:
// apache/kafka copies /mnt/shared/config over its own configuration.
var propsFiles = []string{"/mnt/shared/config/server.properties"}

// kafkaConf looks a property up where a Kafka container gets it from: the
// environment (KAFKA_CFG_ for bitnami, KAFKA_ for apache/kafka and
// confluentinc, NAME_WITH_UNDERSCORES for name.with.dots), then a mounted
// properties file; the environment wins, as the images write it over the
// file.
type kafkaConf struct {
	env      map[string]string
	file     map[string]string
	fileName string
}

func (k *kafkaConf) get(prop string) (value, from string, ok bool) {
	e := strings.ToUpper(strings.ReplaceAll(prop, ".", "_"))
	for _, p := range []string{"KAFKA_CFG_", "KAFKA_"} {
		if v := strings.TrimSpace(k.env[p+e]); v != "" {
			return v, p + e, true
		}
	}
	if v := strings.TrimSpace(k.file[prop]); v != "" {
		return v, prop + " in " + k.fileName, true
	}
	return "", "", false
}

// defaultProtocols is Kafka's default listener.security.protocol.map, with
// the CONTROLLER entry the images' own server.properties add.
var defaultProtocols = map[string]string{
	"PLAINTEXT": "PLAINTEXT", "SSL": "SSL", "SASL_PLAINTEXT": "SASL_PLAINTEXT", "SASL_SSL": "SASL_SSL",
	"CONTROLLER": "PLAINTEXT",
}

// kafkaNode reads a Kafka node's listeners from its environment, a mounted
// properties file and, for wurstmeister's variables, what its start script
// computes.
func kafkaNode(env map[string]string, args []string, h host) (node, error) {
	n := node{kind: "Kafka", id: -1}
	env = maps(env)
	if err := wurstmeister(&n, env, h); err != nil {
		return n, err
	}
	k := &kafkaConf{env: env}
	files := slices.Clone(propsFiles)
	for _, a := range args {
		for _, w := range strings.Fields(a) {
			if strings.HasSuffix(w, ".properties") && path.IsAbs(w) {
				files = append([]string{w}, files...)
			}
		}
	}
	for _, f := range files {
		props, err := readProps(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, err
		}
		k.file, k.fileName = props, f
		n.note("read %s (the environment wins where both set a value)", f)
		break
	}

	for _, p := range []string{"node.id", "broker.id"} {
		if v, from, ok := k.get(p); ok {
			id, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				return n, fmt.Errorf("%s: %q is not a node id", from, v)
			}
			n.id = int32(id)
			break
		}
	}

	roles, rolesFrom, kraft := k.get("process.roles")
	if kraft {
		var broker, controller bool
		for _, r := range strings.Split(roles, ",") {
			switch strings.ToLower(strings.TrimSpace(r)) {
			case "broker":
				broker = true
			case "controller":
				controller = true
			default:
				return n, fmt.Errorf("%s: unknown role %q", rolesFrom, r)
			}
		}
		if controller && !broker {
			n.controller = fmt.Sprintf("%s=%s: a KRaft controller only", rolesFrom, roles)
			return n, nil
		}
	}

	protos, protosFrom := defaultProtocols, "Kafka's default listener.security.protocol.map and the image's CONTROLLER:PLAINTEXT"
	if m, from, ok := k.get("listener.security.protocol.map"); ok {
		protos, protosFrom = map[string]string{}, from
		for _, e := range strings.Split(m, ",") {
			name, proto, ok := strings.Cut(e, ":")
			if !ok || strings.TrimSpace(name) == "" {
				return n, fmt.Errorf("%s: %q is not NAME:PROTOCOL", from, e)
			}
			protos[strings.ToUpper(strings.TrimSpace(name))] = strings.ToUpper(strings.TrimSpace(proto))
		}
	}
	controllers := map[string]bool{}
	if c, _, ok := k.get("controller.listener.names"); ok {
		for _, name := range strings.Split(c, ",") {
			controllers[strings.ToUpper(strings.TrimSpace(name))] = true
		}
	} else if kraft {
		controllers["CONTROLLER"] = true
		n.note("controller.listener.names is not set: CONTROLLER, as the image's server.properties names it")
	}

	binds, bindsFrom, haveBinds := k.get("listeners")
	var bl []parsed
	var err error
	switch {
	case haveBinds:
		if bl, err = parseListeners(bindsFrom, binds); err != nil {
			return n, err
		}
	case k.env["KAFKA_ADVERTISED_LISTENERS"] != "":
		// confluentinc/cp-kafka's start script binds every advertised
		// listener on all addresses when KAFKA_LISTENERS is unset.
		adv, _, _ := k.get("advertised.listeners")
		if bl, err = parseListeners("KAFKA_ADVERTISED_LISTENERS", adv); err != nil {
			return n, err
		}
		for i := range bl {
			bl[i].host = "0.0.0.0"
		}
		bindsFrom = "KAFKA_ADVERTISED_LISTENERS"
		n.note("KAFKA_LISTENERS is not set: each advertised listener binds its port on 0.0.0.0, as confluentinc/cp-kafka derives them")
	default:
		host, _, _ := k.get("host.name")
		port, from, ok := k.get("port")
		if !ok {
			port, from = "9092", "Kafka's default port"
		}
		if bl, err = parseListeners(from, "PLAINTEXT://"+net.JoinHostPort(host, port)); err != nil {
			return n, err
		}
		bindsFrom = from
	}

	var al []parsed
	advFrom := ""
	if adv, from, ok := k.get("advertised.listeners"); ok {
		if al, err = parseListeners(from, adv); err != nil {
			return n, err
		}
		advFrom = from
	} else {
		advHost, hostFrom, haveHost := k.get("advertised.host.name")
		advPort, portFrom, havePort := k.get("advertised.port")
		if haveHost || havePort {
			// Kafka before 3.0: advertised.host.name defaults to
			// host.name, advertised.port to port (9092).
			if !haveHost {
				advHost, _, _ = k.get("host.name")
			}
			if !havePort {
				if advPort, _, havePort = k.get("port"); !havePort {
					advPort = "9092"
				}
			}
			if al, err = parseListeners(hostFrom+" "+portFrom, "PLAINTEXT://"+net.JoinHostPort(advHost, advPort)); err != nil {
				return n, err
			}
			advFrom = strings.TrimSpace(hostFrom + " and " + portFrom)
		} else {
			al, advFrom = bl, bindsFrom
		}
	}

	seen := map[string]bool{}
	ports := map[int]bool{}
	for _, b := range bl {
		if seen[b.name] {
			return n, fmt.Errorf("%s: listener %s is named twice", bindsFrom, b.name)
		}
		seen[b.name] = true
		if ports[b.port] {
			return n, fmt.Errorf("%s: port %d is bound twice", bindsFrom, b.port)
		}
		ports[b.port] = true
		proto, ok := protos[b.name]
		if !ok {
			return n, fmt.Errorf("no security protocol for listener %s in %s: Kafka refuses to start", b.name, protosFrom)
		}
		if proto != "PLAINTEXT" && !controllers[b.name] {
			return n, fmt.Errorf("listener %s speaks %s: this stand-in serves PLAINTEXT only", b.name, proto)
		}
	}
	hostname := ""
	for _, a := range al {
		if controllers[a.name] {
			continue
		}
		i := slices.IndexFunc(bl, func(b parsed) bool { return b.name == a.name })
		if i < 0 {
			return n, fmt.Errorf("%s advertises listener %s, which %s does not bind: Kafka refuses to start", advFrom, a.name, bindsFrom)
		}
		host := a.host
		switch {
		case host == "":
			if hostname == "" {
				if hostname, err = h.hostname(); err != nil {
					return n, err
				}
			}
			host = hostname
			n.note("listener %s advertises no host: the container's hostname, %s", a.name, host)
		case net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified():
			return n, fmt.Errorf("%s: listener %s advertises %s, which Kafka refuses (not routable)", advFrom, a.name, host)
		}
		b := bl[i]
		n.listeners = append(n.listeners, listener{
			name:       a.name,
			bind:       net.JoinHostPort(b.host, strconv.Itoa(b.port)),
			advertised: net.JoinHostPort(host, strconv.Itoa(a.port)),
		})
	}
	for _, b := range bl {
		if controllers[b.name] {
			n.note("listener %s is the controller listener: it serves the KRaft quorum, not clients, and this stand-in does not bind it", b.name)
		} else if !slices.ContainsFunc(n.listeners, func(l listener) bool { return l.name == b.name }) {
			n.note("listener %s is bound but not advertised: it is not served", b.name)
		}
	}
	if len(n.listeners) == 0 {
		return n, fmt.Errorf("%s: no client listener", advFrom)
	}
	return n, nil
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// parsed is one NAME://host:port entry.
type parsed struct {
	name string
	host string
	port int
}

// parseListeners reads a comma-separated list of Kafka listeners,
// NAME://host:port, the names upper-cased as Kafka takes them.
func parseListeners(from, s string) ([]parsed, error) {
	return parseListenerList(from, s, false)
}

// parseListenerList reads NAME://host:port entries; with unnamed (Redpanda)
// an entry may be host:port alone, named "", and names keep their case.
func parseListenerList(from, s string, unnamed bool) ([]parsed, error) {
	var out []parsed
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		name, hp, ok := strings.Cut(e, "://")
		if !ok {
			if !unnamed {
				return nil, fmt.Errorf("%s: %q is not NAME://host:port", from, e)
			}
			name, hp = "", e
		}
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %v", from, e, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("%s: %q: port %q is not a port", from, e, port)
		}
		if !unnamed {
			name = strings.ToUpper(name)
		}
		out = append(out, parsed{name: name, host: host, port: p})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no listener in %q", from, s)
	}
	return out, nil
}

// wurstmeister does what wurstmeister/kafka's start script does before
// Kafka starts, when the environment uses its variables: KAFKA_PORT
// defaults to 9092; with the Docker socket mounted and no advertised port
// or listeners, the advertised port is the host port docker publishes
// KAFKA_PORT on; HOSTNAME_COMMAND's and PORT_COMMAND's output replace
// _{HOSTNAME_COMMAND} and _{PORT_COMMAND} in every KAFKA_ variable, and
// HOSTNAME_COMMAND's output is the advertised host name when neither it nor
// the listeners are set.
func wurstmeister(n *node, env map[string]string, h host) error {
	if env["HOSTNAME_COMMAND"] == "" && env["PORT_COMMAND"] == "" && env["KAFKA_ADVERTISED_HOST_NAME"] == "" && env["KAFKA_ADVERTISED_PORT"] == "" {
		return nil
	}
	if env["KAFKA_PORT"] == "" {
		env["KAFKA_PORT"] = "9092"
		n.note("KAFKA_PORT is not set: 9092, as wurstmeister's start script sets it")
	}
	if env["KAFKA_ADVERTISED_PORT"] == "" && env["KAFKA_LISTENERS"] == "" && env["KAFKA_ADVERTISED_LISTENERS"] == "" && h.dockerSocket() {
		name, err := h.hostname()
		if err != nil {
			return err
		}
		port, err := strconv.Atoi(env["KAFKA_PORT"])
		if err != nil {
			return fmt.Errorf("KAFKA_PORT %q is not a port", env["KAFKA_PORT"])
		}
		p, err := h.dockerPort(name, port)
		if err != nil {
			return fmt.Errorf("asking docker for the host port of %d/tcp, as wurstmeister's start script does: %w", port, err)
		}
		env["KAFKA_ADVERTISED_PORT"] = strconv.Itoa(p)
		n.note("KAFKA_ADVERTISED_PORT=%d: the host port docker publishes %d/tcp on (the Docker socket is mounted)", p, port)
	}
	hostValue := ""
	for _, c := range []struct{ name, placeholder string }{{"HOSTNAME_COMMAND", "_{HOSTNAME_COMMAND}"}, {"PORT_COMMAND", "_{PORT_COMMAND}"}} {
		cmd := env[c.name]
		if cmd == "" {
			continue
		}
		v, err := evalCommand(h, cmd)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		n.note("%s (%q) gives %q", c.name, cmd, v)
		if c.name == "HOSTNAME_COMMAND" {
			hostValue = v
		}
		for k, val := range env {
			if strings.HasPrefix(k, "KAFKA_") && strings.Contains(val, c.placeholder) {
				env[k] = strings.ReplaceAll(val, c.placeholder, v)
			}
		}
	}
	if env["KAFKA_ADVERTISED_HOST_NAME"] == "" && env["KAFKA_LISTENERS"] == "" {
		switch {
		case env["KAFKA_ADVERTISED_LISTENERS"] != "":
			return errors.New("KAFKA_ADVERTISED_LISTENERS is set without KAFKA_LISTENERS: wurstmeister's start script refuses to start")
		case hostValue == "":
			return errors.New("no listener and no advertised host name: wurstmeister's start script refuses to start")
		}
		env["KAFKA_ADVERTISED_HOST_NAME"] = hostValue
	}
	return nil
}

// isRedpanda says whether the command runs `redpanda start`.
func isRedpanda(args []string) bool {
	w := words(args)
	for i := 0; i+1 < len(w); i++ {
		if path.Base(w[i]) == "redpanda" && w[i+1] == "start" {
			return true
		}
	}
	return false
}

// words splits every argument at white space, as Redpanda's entrypoint
// does with the items of a compose command list.
func words(args []string) []string {
	var out []string
	for _, a := range args {
		out = append(out, strings.Fields(a)...)
	}
	return out
}

// redpandaNode reads the listeners of `redpanda start`: --kafka-addr
// (default 0.0.0.0:9092) and --advertise-kafka-addr (default: what
// --kafka-addr binds), named or unnamed, as `--flag value` or
// `--flag=value`.
func redpandaNode(args []string) (node, error) {
	n := node{kind: "Redpanda", id: -1}
	w := words(args)
	flag := func(name string) (string, bool) {
		for i, t := range w {
			if t == name && i+1 < len(w) {
				return w[i+1], true
			}
			if v, ok := strings.CutPrefix(t, name+"="); ok {
				return v, true
			}
		}
		return "", false
	}
	binds, ok := flag("--kafka-addr")
	if !ok {
		binds = "0.0.0.0:9092"
		n.note("--kafka-addr is not given: 0.0.0.0:9092, Redpanda's default")
	}
	bl, err := parseListenerList("--kafka-addr", binds, true)
	if err != nil {
		return n, err
	}
	al := bl
	if adv, ok := flag("--advertise-kafka-addr"); ok {
		if al, err = parseListenerList("--advertise-kafka-addr", adv, true); err != nil {
			return n, err
		}
	}
	for _, b := range bl {
		i := slices.IndexFunc(al, func(a parsed) bool { return a.name == b.name })
		if i < 0 {
			return n, fmt.Errorf("--kafka-addr listener %q has no --advertise-kafka-addr entry of that name", b.name)
		}
		a := al[i]
		if ip := net.ParseIP(a.host); a.host == "" || (ip != nil && ip.IsUnspecified()) {
			return n, fmt.Errorf("--advertise-kafka-addr listener %q advertises %q, which no client can dial", a.name, net.JoinHostPort(a.host, strconv.Itoa(a.port)))
		}
		name := b.name
		if name == "" {
			name = "(unnamed)"
		}
		n.listeners = append(n.listeners, listener{
			name:       name,
			bind:       net.JoinHostPort(b.host, strconv.Itoa(b.port)),
			advertised: net.JoinHostPort(a.host, strconv.Itoa(a.port)),
		})
	}
	for _, a := range al {
		if !slices.ContainsFunc(bl, func(b parsed) bool { return b.name == a.name }) {
			return n, fmt.Errorf("--advertise-kafka-addr listener %q is not in --kafka-addr", a.name)
		}
	}
	return n, nil
}
