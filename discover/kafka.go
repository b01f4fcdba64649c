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

	"github.com/compose-spec/compose-go/v2/types"
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

	read     []string // configuration files read, as shown
	assumed  []string // what is assumed where a setting is absent
	problems []string
	unknown  string // why the advertised addresses cannot be told, "" when they can
}

func (sp *brokerSpec) assume(format string, args ...any) {
	sp.assumed = append(sp.assumed, fmt.Sprintf(format, args...))
}

func (sp *brokerSpec) problem(format string, args ...any) {
	sp.problems = append(sp.problems, fmt.Sprintf(format, args...))
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
	env       types.MappingWithEquals
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

func envValue(env types.MappingWithEquals, key string) (string, bool) {
	v, ok := env[key]
	if !ok || v == nil || strings.TrimSpace(*v) == "" {
		return "", false
	}
	return strings.TrimSpace(*v), true
}

// kafkaMarkers are the properties whose presence makes a service a Kafka
// broker or controller.
var kafkaMarkers = []string{"advertised.listeners", "listeners", "process.roles", "advertised.host.name", "advertised.port", "zookeeper.connect", "broker.id", "node.id"}

// inspectService tells what a service runs: a Kafka or Redpanda node, or
// nil for anything else.
func inspectService(p *types.Project, svc types.ServiceConfig, files hostFiles) *brokerSpec {
	tokens := commandTokens(svc)
	if sp := redpandaSpec(svc, tokens); sp != nil {
		return sp
	}
	k := &kafkaSettings{env: svc.Environment, prefix: "KAFKA_", overrides: overrides(tokens)}
	for key := range svc.Environment {
		if strings.HasPrefix(key, "KAFKA_CFG_") {
			k.prefix = "KAFKA_CFG_"
			break
		}
	}
	var read, assumed []string
	if hostPath, inContainer, ok := mountedProps(p, svc, tokens, files); ok {
		shown := displayPath(p, hostPath)
		props, err := files.readProps(hostPath)
		switch {
		case err == nil:
			k.file, k.fileName = props, shown
			read = append(read, fmt.Sprintf("%s, mounted at %s (the environment wins where both set a value)", shown, inContainer))
		case errors.Is(err, fs.ErrNotExist):
			assumed = append(assumed, fmt.Sprintf("%s, mounted at %s, is not there: the environment is taken as the whole configuration", shown, inContainer))
		default:
			assumed = append(assumed, fmt.Sprintf("%s, mounted at %s, cannot be read (%v): the environment is taken as the whole configuration", shown, inContainer, err))
		}
	}
	if !slices.ContainsFunc(kafkaMarkers, func(m string) bool { _, _, ok := k.get(m); return ok }) {
		return nil
	}
	sp := &brokerSpec{kind: Kafka, read: read, assumed: assumed}
	sp.kafka(svc, k)
	return sp
}

// kafka fills sp from a Kafka node's settings.
func (sp *brokerSpec) kafka(svc types.ServiceConfig, k *kafkaSettings) {
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
	hostCmd, _ := envValue(svc.Environment, "HOSTNAME_COMMAND")
	portCmd, _ := envValue(svc.Environment, "PORT_COMMAND")
	sy := listenerSyntax{hostCommand: hostCmd, portCommand: portCmd}

	bindText, bindFrom, haveBinds := k.get("listeners")
	if haveBinds {
		binds, err := sy.parse(bindFrom, bindText)
		if err != nil {
			sp.problem("%v", err)
			sp.unknown = "its listeners cannot be read"
			return
		}
		sp.binds, sp.haveBinds, sp.bindFrom = binds, true, bindFrom
	} else {
		sp.bindFrom = k.name("listeners")
	}

	advText, advFrom, haveAdv := k.get("advertised.listeners")
	legacyHost, legacyHostFrom, haveLegacyHost := k.get("advertised.host.name")
	legacyPort, legacyPortFrom, haveLegacyPort := k.get("advertised.port")
	dockerPort := !haveBinds && !haveAdv && !haveLegacyPort && mountsDockerSocket(svc)
	switch {
	case haveAdv:
		advs, err := sy.parse(advFrom, advText)
		if err != nil {
			sp.problem("%v", err)
			sp.unknown = "its advertised listeners cannot be read"
			return
		}
		sp.advs, sp.advFrom = advs, advFrom
	case haveLegacyHost || haveLegacyPort || (!haveBinds && (hostCmd != "" || dockerPort)):
		if !sp.legacy(svc, k, sy, legacyHost, legacyHostFrom, legacyPort, legacyPortFrom, dockerPort) {
			return
		}
		if strings.Contains(svc.Image, "apache/kafka") {
			sp.problem("%s: the apache/kafka image runs Kafka 3.7 or later, which no longer reads advertised.host.name or advertised.port (removed in Kafka 3.0); set %s", sp.advFrom, k.name("advertised.listeners"))
		}
	case haveBinds:
		// Kafka advertises its listeners when advertised.listeners is unset.
		sp.advs, sp.advFrom = sp.binds, bindFrom
	default:
		sp.unknown = fmt.Sprintf("neither %s nor %s is set here: the image's own configuration decides what it advertises, which this command cannot see", k.name("advertised.listeners"), k.name("listeners"))
		return
	}

	sp.protos, sp.protoFrom = defaultProtocols, k.name("listener.security.protocol.map")
	if m, from, ok := k.get("listener.security.protocol.map"); ok {
		protos, err := parseProtocolMap(from, m)
		if err != nil {
			sp.problem("%v", err)
			sp.unknown = "its listener security protocol map cannot be read"
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
		sp.assume("%s is not set here: listener CONTROLLER is taken as the controller listener, as the images' own server.properties name it", k.name("controller.listener.names"))
	}
}

// legacy reads the settings Kafka used before advertised.listeners
// (advertised.host.name, advertised.port, port, host.name; removed in Kafka
// 3.0, still in wurstmeister/kafka stacks), with wurstmeister's start-time
// values: HOSTNAME_COMMAND's output, PORT_COMMAND's output, and the host
// port docker publishes the broker's port on when the Docker socket is
// mounted. It reports whether the listeners could be told.
func (sp *brokerSpec) legacy(svc types.ServiceConfig, k *kafkaSettings, sy listenerSyntax, host, hostFrom, port, portFrom string, dockerPort bool) bool {
	bindPort := 9092
	if !sp.haveBinds {
		bindHost, _, _ := k.get("host.name")
		if v, from, ok := k.get("port"); ok {
			ls, err := sy.parse(from, "PLAINTEXT://"+netJoin(bindHost, v))
			if err != nil || ls[0].port < 0 {
				sp.problem("%s: %q is not a port", from, v)
				sp.unknown = "its port cannot be read"
				return false
			}
			bindPort = ls[0].port
			sp.bindFrom = from
		} else {
			sp.assume("%s is not set: the broker listens on 9092, Kafka's default port", k.name("port"))
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
			sp.problem("%s: %q is not a port", portFrom, port)
			sp.unknown = "its advertised port cannot be read"
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

// mountsDockerSocket says whether the service mounts the Docker socket, as
// wurstmeister's port discovery needs.
func mountsDockerSocket(svc types.ServiceConfig) bool {
	return slices.ContainsFunc(svc.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Target == "/var/run/docker.sock"
	})
}

// commandTokens is the service's entrypoint and command as words; a word
// holding white space (sh -c "...") is split at it.
func commandTokens(svc types.ServiceConfig) []string {
	var out []string
	for _, w := range append(slices.Clone(svc.Entrypoint), svc.Command...) {
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
func mountedProps(p *types.Project, svc types.ServiceConfig, tokens []string, files hostFiles) (hostPath, inContainer string, ok bool) {
	var binds []types.ServiceVolumeConfig
	for _, v := range svc.Volumes {
		if v.Type == types.VolumeTypeBind && v.Source != "" && path.IsAbs(v.Target) {
			v.Source = hostSource(p, v.Source)
			binds = append(binds, v)
		}
	}
	for _, t := range tokens {
		if !strings.HasSuffix(t, ".properties") || !path.IsAbs(t) {
			continue
		}
		for _, v := range binds {
			target := path.Clean(v.Target)
			if t == target {
				return v.Source, t, true
			}
			if rest, ok := strings.CutPrefix(path.Clean(t), target+"/"); ok {
				return filepath.Join(v.Source, filepath.FromSlash(rest)), t, true
			}
		}
	}
	for _, v := range binds {
		if path.Base(v.Target) == "server.properties" {
			return v.Source, v.Target, true
		}
	}
	for _, v := range binds {
		if files.isDir(v.Source) {
			f := filepath.Join(v.Source, "server.properties")
			if _, err := files.readProps(f); !errors.Is(err, fs.ErrNotExist) {
				return f, path.Join(v.Target, "server.properties"), true
			}
		}
	}
	return "", "", false
}

// hostSource is a bind mount's source as a host path: compose-go makes it
// absolute, unless told not to resolve paths.
func hostSource(p *types.Project, src string) string {
	if filepath.IsAbs(src) || p.WorkingDir == "" {
		return src
	}
	return filepath.Join(p.WorkingDir, src)
}

// displayPath shows a host path relative to the project directory when it
// is inside it.
func displayPath(p *types.Project, hostPath string) string {
	if p.WorkingDir != "" {
		if rel, err := filepath.Rel(p.WorkingDir, hostPath); err == nil && !strings.HasPrefix(rel, "..") {
			return "./" + filepath.ToSlash(rel)
		}
	}
	return hostPath
}

// redpandaSpec reads a Redpanda node's listeners from its command line
// (redpanda start --kafka-addr ... --advertise-kafka-addr ...), or returns
// nil when the service does not run Redpanda.
func redpandaSpec(svc types.ServiceConfig, tokens []string) *brokerSpec {
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
	if !haveBinds && !haveAdv && !(starts && strings.Contains(svc.Image, "redpanda")) {
		return nil
	}
	sp := &brokerSpec{kind: Redpanda, haveBinds: true, bindFrom: "--kafka-addr", protos: map[string]string{}, controllers: map[string]bool{}}
	sy := listenerSyntax{optionalName: true}
	if !haveBinds {
		bindText = "0.0.0.0:9092"
		sp.assume("--kafka-addr is not given: Redpanda listens on 0.0.0.0:9092, its default, unless the image's redpanda.yaml says otherwise")
	}
	binds, err := sy.parse("--kafka-addr", bindText)
	if err != nil {
		sp.problem("%v", err)
		sp.unknown = "its --kafka-addr cannot be read"
		return sp
	}
	sp.binds = binds
	if !haveAdv {
		sp.advs, sp.advFrom = binds, "--kafka-addr"
		sp.assume("--advertise-kafka-addr is not given: Redpanda advertises its --kafka-addr")
		return sp
	}
	advs, err := sy.parse("--advertise-kafka-addr", advText)
	if err != nil {
		sp.problem("%v", err)
		sp.unknown = "its --advertise-kafka-addr cannot be read"
		return sp
	}
	sp.advs, sp.advFrom = advs, "--advertise-kafka-addr"
	return sp
}
