package discover

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// brokerSpec is what one service runs, as far as a client sees it: the
// listeners it binds and advertises, and where each setting came from.
type brokerSpec struct {
	kind       Kind
	roles      string // process.roles as set, "" when unset
	controller bool   // a KRaft controller only: clients never dial it

	binds     []listener
	haveBinds bool   // false: the image derives the bind ports from the advertised ones
	bindFrom  string // where binds came from, e.g. KAFKA_LISTENERS
	advs      []listener
	advFrom   string

	protos        map[string]string
	protoFrom     string
	protoExplicit bool // the map is set: a listener missing from it stops Kafka
	controllers   map[string]bool

	read     []ConfigFile // configuration files read
	assumed  []Assumption // what is assumed where a setting is absent
	problems []Problem
	unknown  *Problem // why the advertised addresses cannot be told, nil when they can
}

func (sp *brokerSpec) assume(a Assumption) { sp.assumed = append(sp.assumed, a) }

func (sp *brokerSpec) problem(p Problem) { sp.problems = append(sp.problems, p) }

// unreadable records that setting prop (a property or a flag) does not
// parse: the parser's error, and that the listeners cannot be told.
func (sp *brokerSpec) unreadable(prop string, err error) {
	sp.problem(Problem{Code: ProblemSyntax, err: err})
	sp.unknown = &Problem{Code: ProblemUnreadable, prop: prop}
}

// badPort records that a port setting is not a port, so that the
// listeners cannot be told.
func (sp *brokerSpec) badPort(prop, from, value string) {
	sp.problem(Problem{Code: ProblemBadPort, setting: from, value: value})
	sp.unknown = &Problem{Code: ProblemUnreadable, prop: prop}
}

// hostFiles reads the files a service mounts from the host.
type hostFiles interface {
	// readProps reads a Java properties file.
	readProps(path string) (map[string]prop, error)
	// isDir says whether path is a directory.
	isDir(path string) bool
}

type osFiles struct{}

func (osFiles) readProps(path string) (map[string]prop, error) { return readProps(path) }

func (osFiles) isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// Kafka configuration is read from these environment prefixes: the
// apache/kafka and confluentinc images take KAFKA_, the bitnami image
// KAFKA_CFG_.
var kafkaPrefixes = []string{"KAFKA_CFG_", "KAFKA_"}

// kafkaSettings looks a Kafka property up where a container gets it from:
// a --override on the command line, then the environment, then a mounted
// properties file (the images write the environment over the file).
type kafkaSettings struct {
	env       map[string]string
	prefix    string // the prefix this service uses, for naming unset variables
	overrides map[string]string
	file      map[string]prop
	fileName  string
}

func (k *kafkaSettings) get(name string) (value, from string, ok bool) {
	if v := strings.TrimSpace(k.overrides[name]); v != "" {
		return v, "--override " + name, true
	}
	env := envName(name)
	for _, p := range kafkaPrefixes {
		if v, ok := envValue(k.env, p+env); ok {
			return v, p + env, true
		}
	}
	if pr, ok := k.file[name]; ok && strings.TrimSpace(pr.value) != "" {
		return strings.TrimSpace(pr.value), fmt.Sprintf("%s in %s:%d", name, k.fileName, pr.line), true
	}
	return "", "", false
}

// describeSetting shows a value with where it was set: KEY=value, or
// key=value in FILE:LINE.
func describeSetting(from, value string) string {
	if key, file, ok := strings.Cut(from, " in "); ok {
		return key + "=" + value + " in " + file
	}
	return from + "=" + value
}

// name is how the service would set a property in its environment.
func (k *kafkaSettings) name(prop string) string { return k.prefix + envName(prop) }

func envName(prop string) string { return strings.ToUpper(strings.ReplaceAll(prop, ".", "_")) }

func envValue(env map[string]string, key string) (string, bool) {
	v := strings.TrimSpace(env[key])
	return v, v != ""
}

// kafkaMarkers are the properties whose presence makes a service a Kafka
// broker or controller.
var kafkaMarkers = []string{"advertised.listeners", "listeners", "process.roles", "advertised.host.name", "advertised.port", "zookeeper.connect", "broker.id", "node.id"}

// inspect tells what a node runs: Kafka or Redpanda, or nil for anything
// else.
func inspect(n *node, files hostFiles) *brokerSpec {
	tokens := commandTokens(n)
	if sp := redpandaSpec(n, tokens); sp != nil {
		return sp
	}
	k := &kafkaSettings{env: n.env, prefix: "KAFKA_", overrides: overrides(tokens)}
	for key := range n.env {
		if strings.HasPrefix(key, "KAFKA_CFG_") {
			k.prefix = "KAFKA_CFG_"
			break
		}
	}
	var (
		read    []ConfigFile
		assumed []Assumption
	)
	if hostPath, inContainer, ok := mountedProps(n, tokens, files); ok {
		cf := ConfigFile{Path: displayPath(n.dir, hostPath), MountedAt: inContainer}
		props, err := files.readProps(hostPath)
		switch {
		case err == nil:
			k.file, k.fileName = props, cf.Path
			read = append(read, cf)
		case errors.Is(err, fs.ErrNotExist):
			assumed = append(assumed, Assumption{Code: AssumedMissingFile, file: cf})
		default:
			assumed = append(assumed, Assumption{Code: AssumedUnreadableFile, file: cf, err: err})
		}
	}
	if !slices.ContainsFunc(kafkaMarkers, func(m string) bool { _, _, ok := k.get(m); return ok }) {
		return nil
	}
	sp := &brokerSpec{kind: Kafka, read: read, assumed: assumed}
	sp.kafka(n, k)
	return sp
}

// kafka fills sp from a Kafka node's settings.
func (sp *brokerSpec) kafka(n *node, k *kafkaSettings) {
	if roles, from, ok := k.get("process.roles"); ok {
		sp.roles = roles
		var broker, controller bool
		for _, r := range strings.Split(roles, ",") {
			switch strings.ToLower(strings.TrimSpace(r)) {
			case "broker":
				broker = true
			case "controller":
				controller = true
			}
		}
		if controller && !broker {
			sp.controller = true
			sp.roles = describeSetting(from, roles)
			return
		}
	}
	hostCmd, _ := envValue(n.env, "HOSTNAME_COMMAND")
	portCmd, _ := envValue(n.env, "PORT_COMMAND")
	sy := listenerSyntax{hostCommand: hostCmd, portCommand: portCmd}

	bindText, bindFrom, haveBinds := k.get("listeners")
	if haveBinds {
		binds, err := sy.parse(bindFrom, bindText)
		if err != nil {
			sp.unreadable("listeners", err)
			return
		}
		sp.binds, sp.haveBinds, sp.bindFrom = binds, true, bindFrom
	} else {
		sp.bindFrom = k.name("listeners")
	}

	advText, advFrom, haveAdv := k.get("advertised.listeners")
	legacyHost, legacyHostFrom, haveLegacyHost := k.get("advertised.host.name")
	legacyPort, legacyPortFrom, haveLegacyPort := k.get("advertised.port")
	dockerPort := !haveBinds && !haveAdv && !haveLegacyPort && mountsDockerSocket(n)
	switch {
	case haveAdv:
		advs, err := sy.parse(advFrom, advText)
		if err != nil {
			sp.unreadable("advertised.listeners", err)
			return
		}
		sp.advs, sp.advFrom = advs, advFrom
	case haveLegacyHost || haveLegacyPort || (!haveBinds && (hostCmd != "" || dockerPort)):
		if !sp.legacy(k, sy, legacyHost, legacyHostFrom, legacyPort, legacyPortFrom, dockerPort) {
			return
		}
		if strings.Contains(n.image, "apache/kafka") {
			sp.problem(Problem{Code: ProblemLegacySettings, setting: sp.advFrom, want: k.name("advertised.listeners")})
		}
	case haveBinds:
		// Kafka advertises its listeners when advertised.listeners is unset.
		sp.advs, sp.advFrom = sp.binds, bindFrom
	default:
		sp.unknown = &Problem{Code: ProblemImageConfig, names: []string{k.name("advertised.listeners"), k.name("listeners")}}
		return
	}

	sp.protos, sp.protoFrom = defaultProtocols, k.name("listener.security.protocol.map")
	if m, from, ok := k.get("listener.security.protocol.map"); ok {
		protos, err := parseProtocolMap(from, m)
		if err != nil {
			sp.unreadable("listener.security.protocol.map", err)
			return
		}
		sp.protos, sp.protoFrom, sp.protoExplicit = protos, from, true
	}

	sp.controllers = map[string]bool{}
	if c, _, ok := k.get("controller.listener.names"); ok {
		for _, n := range strings.Split(c, ",") {
			sp.controllers[strings.ToUpper(strings.TrimSpace(n))] = true
		}
	} else if slices.ContainsFunc(append(slices.Clone(sp.binds), sp.advs...), func(l listener) bool { return l.name == "CONTROLLER" }) {
		sp.controllers["CONTROLLER"] = true
		sp.assume(Assumption{Code: AssumedControllerListener, setting: k.name("controller.listener.names")})
	}
}

// legacy reads the settings Kafka used before advertised.listeners
// (advertised.host.name, advertised.port, port, host.name; removed in Kafka
// 3.0, still in wurstmeister/kafka stacks), with wurstmeister's start-time
// values: HOSTNAME_COMMAND's output, PORT_COMMAND's output, and the host
// port docker publishes the broker's port on when the Docker socket is
// mounted. It reports whether the listeners could be told.
func (sp *brokerSpec) legacy(k *kafkaSettings, sy listenerSyntax, host, hostFrom, port, portFrom string, dockerPort bool) bool {
	bindPort := 9092
	if !sp.haveBinds {
		bindHost, _, _ := k.get("host.name")
		if v, from, ok := k.get("port"); ok {
			ls, err := sy.parse(from, "PLAINTEXT://"+netJoin(bindHost, v))
			if err != nil || ls[0].port < 0 {
				sp.badPort("port", from, v)
				return false
			}
			bindPort = ls[0].port
			sp.bindFrom = from
		} else {
			sp.assume(Assumption{Code: AssumedDefaultPort, setting: k.name("port")})
			sp.bindFrom = k.name("port")
		}
		sp.binds, sp.haveBinds = []listener{{name: "PLAINTEXT", host: bindHost, port: bindPort}}, true
	} else if i := slices.IndexFunc(sp.binds, func(l listener) bool { return l.name == "PLAINTEXT" }); i >= 0 {
		bindPort = sp.binds[i].port
	}

	adv := listener{name: "PLAINTEXT", port: bindPort}
	var from []string
	switch {
	case host != "":
		from = append(from, hostFrom)
		adv.host = host
		if sy.hostCommand != "" && strings.Contains(host, hostPlaceholder) {
			adv.hostComputed = "HOSTNAME_COMMAND"
		}
	case sy.hostCommand != "":
		// wurstmeister sets KAFKA_ADVERTISED_HOST_NAME from HOSTNAME_COMMAND
		// when it is unset.
		from = append(from, "HOSTNAME_COMMAND")
		adv.host, adv.hostComputed = hostPlaceholder, "HOSTNAME_COMMAND"
	default:
		adv.host, _, _ = k.get("host.name")
	}
	switch {
	case port != "":
		from = append(from, portFrom)
		if sy.portCommand != "" && port == portPlaceholder {
			adv.port, adv.portComputed = -1, "PORT_COMMAND"
			break
		}
		ls, err := sy.parse(portFrom, "PLAINTEXT://"+netJoin("h", port))
		if err != nil {
			sp.badPort("advertised.port", portFrom, port)
			return false
		}
		adv.port = ls[0].port
	case dockerPort:
		adv.port, adv.portComputed = -1, "docker port"
	}
	sp.advs = []listener{adv}
	sp.advFrom = strings.Join(from, " and ")
	if sp.advFrom == "" {
		sp.advFrom = sp.bindFrom
	}
	return true
}

func netJoin(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// mountsDockerSocket says whether the node mounts the Docker socket, as
// wurstmeister's port discovery needs.
func mountsDockerSocket(n *node) bool {
	return slices.ContainsFunc(n.mounts, func(m mount) bool { return m.target == "/var/run/docker.sock" })
}

// commandTokens is the node's entrypoint and command as words; a word
// holding white space (sh -c "...") is split at it.
func commandTokens(n *node) []string {
	var out []string
	for _, w := range n.command {
		out = append(out, strings.Fields(w)...)
	}
	return out
}

// overrides are kafka-server-start.sh's "--override key=value" arguments.
func overrides(tokens []string) map[string]string {
	m := map[string]string{}
	for i, t := range tokens {
		var kv string
		switch {
		case t == "--override" && i+1 < len(tokens):
			kv = tokens[i+1]
		case strings.HasPrefix(t, "--override="):
			kv = strings.TrimPrefix(t, "--override=")
		default:
			continue
		}
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[strings.TrimSpace(k)] = strings.Trim(v, `"'`)
		}
	}
	return m
}

// mountedProps finds the properties file a Kafka service reads from a bind
// mount: a .properties file its command names (kafka-server-start.sh FILE)
// inside a mount, else a mount whose target is a server.properties, else a
// mounted directory that holds one.
func mountedProps(n *node, tokens []string, files hostFiles) (hostPath, inContainer string, ok bool) {
	var binds []mount
	for _, m := range n.mounts {
		if m.bind && m.source != "" && path.IsAbs(m.target) {
			binds = append(binds, m)
		}
	}
	for _, t := range tokens {
		if !strings.HasSuffix(t, ".properties") || !path.IsAbs(t) {
			continue
		}
		for _, m := range binds {
			target := path.Clean(m.target)
			if t == target {
				return m.source, t, true
			}
			if rest, ok := strings.CutPrefix(path.Clean(t), target+"/"); ok {
				return filepath.Join(m.source, filepath.FromSlash(rest)), t, true
			}
		}
	}
	for _, m := range binds {
		if path.Base(m.target) == "server.properties" {
			return m.source, m.target, true
		}
	}
	for _, m := range binds {
		if files.isDir(m.source) {
			f := filepath.Join(m.source, "server.properties")
			if _, err := files.readProps(f); !errors.Is(err, fs.ErrNotExist) {
				return f, path.Join(m.target, "server.properties"), true
			}
		}
	}
	return "", "", false
}

// displayPath shows a host path relative to the project directory dir
// when it is inside it.
func displayPath(dir, hostPath string) string {
	if dir != "" {
		if rel, err := filepath.Rel(dir, hostPath); err == nil && !strings.HasPrefix(rel, "..") {
			return "./" + filepath.ToSlash(rel)
		}
	}
	return hostPath
}

// redpandaSpec reads a Redpanda node's listeners from its command line
// (redpanda start --kafka-addr ... --advertise-kafka-addr ...), or returns
// nil when the service does not run Redpanda.
func redpandaSpec(n *node, tokens []string) *brokerSpec {
	flag := func(name string) (string, bool) {
		for i, t := range tokens {
			if t == name && i+1 < len(tokens) {
				return tokens[i+1], true
			}
			if v, ok := strings.CutPrefix(t, name+"="); ok {
				return v, true
			}
		}
		return "", false
	}
	bindText, haveBinds := flag("--kafka-addr")
	advText, haveAdv := flag("--advertise-kafka-addr")
	starts := false
	for i := 0; i+1 < len(tokens); i++ {
		if path.Base(tokens[i]) == "redpanda" && tokens[i+1] == "start" {
			starts = true
		}
	}
	if !haveBinds && !haveAdv && !(starts && strings.Contains(n.image, "redpanda")) {
		return nil
	}
	sp := &brokerSpec{kind: Redpanda, haveBinds: true, bindFrom: "--kafka-addr", protos: map[string]string{}, controllers: map[string]bool{}}
	sy := listenerSyntax{optionalName: true}
	if !haveBinds {
		bindText = "0.0.0.0:9092"
		sp.assume(Assumption{Code: AssumedRedpandaBind})
	}
	binds, err := sy.parse("--kafka-addr", bindText)
	if err != nil {
		sp.unreadable("--kafka-addr", err)
		return sp
	}
	sp.binds = binds
	if !haveAdv {
		sp.advs, sp.advFrom = binds, "--kafka-addr"
		sp.assume(Assumption{Code: AssumedRedpandaAdvertise})
		return sp
	}
	advs, err := sy.parse("--advertise-kafka-addr", advText)
	if err != nil {
		sp.unreadable("--advertise-kafka-addr", err)
		return sp
	}
	sp.advs, sp.advFrom = advs, "--advertise-kafka-addr"
	return sp
}
