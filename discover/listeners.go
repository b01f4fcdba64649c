package discover

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// listener is one entry of a Kafka listeners list (NAME://host:port) or of
// a Redpanda address flag ([name://]host:port).
type listener struct {
	name, host string
	port       int // -1 when computed at container start
	// hostComputed and portComputed say what computes the host or port at
	// container start ("" when the file holds it).
	hostComputed, portComputed string
}

// addr is the listener's address as written, a port computed at start
// shown as <port>.
func (l listener) addr() string {
	port := strconv.Itoa(l.port)
	if l.port < 0 {
		port = "<port>"
	}
	return net.JoinHostPort(l.host, port)
}

// Placeholders wurstmeister/kafka's start script replaces, in any KAFKA_
// variable, by the output of HOSTNAME_COMMAND and PORT_COMMAND.
const (
	hostPlaceholder = "_{HOSTNAME_COMMAND}"
	portPlaceholder = "_{PORT_COMMAND}"
)

// listenerSyntax says how to read a listeners list.
type listenerSyntax struct {
	optionalName bool   // Redpanda: NAME:// may be left out
	hostCommand  string // HOSTNAME_COMMAND, when set: _{HOSTNAME_COMMAND} is its output
	portCommand  string // PORT_COMMAND, when set
}

// parseListeners parses a listeners or advertised.listeners value.
func parseListeners(key, s string) ([]listener, error) {
	return listenerSyntax{}.parse(key, s)
}

func (sy listenerSyntax) parse(key, s string) ([]listener, error) {
	var out []listener
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, hostport, ok := strings.Cut(item, "://")
		switch {
		case !ok && sy.optionalName:
			name, hostport = "", item
		case !ok || name == "":
			return nil, fmt.Errorf("%s: %q is not NAME://host:port", key, item)
		}
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %v", key, item, err)
		}
		if !sy.optionalName {
			name = strings.ToUpper(name) // Kafka's listener names are case-insensitive
		}
		l := listener{name: name, host: host}
		if sy.hostCommand != "" && strings.Contains(host, hostPlaceholder) {
			l.hostComputed = "HOSTNAME_COMMAND"
		}
		if sy.portCommand != "" && port == portPlaceholder {
			l.port, l.portComputed = -1, "PORT_COMMAND"
		} else {
			n, err := strconv.Atoi(port)
			if err != nil || n < 0 || n > 65535 {
				return nil, fmt.Errorf("%s: %q: bad port %q", key, item, port)
			}
			l.port = n
		}
		out = append(out, l)
	}
	return out, nil
}

// parseProtocolMap parses listener.security.protocol.map (NAME:PROTOCOL,...).
func parseProtocolMap(key, s string) (map[string]string, error) {
	m := map[string]string{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, proto, ok := strings.Cut(item, ":")
		if !ok || name == "" || proto == "" {
			return nil, fmt.Errorf("%s: %q is not NAME:PROTOCOL", key, item)
		}
		proto = strings.ToUpper(strings.TrimSpace(proto))
		switch proto {
		case "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL":
		default:
			return nil, fmt.Errorf("%s: unknown security protocol %q for listener %s", key, proto, name)
		}
		m[strings.ToUpper(strings.TrimSpace(name))] = proto
	}
	return m, nil
}

// defaultProtocols is Kafka's map when none is set: each protocol is a
// listener name of its own.
var defaultProtocols = map[string]string{"PLAINTEXT": "PLAINTEXT", "SSL": "SSL", "SASL_PLAINTEXT": "SASL_PLAINTEXT", "SASL_SSL": "SASL_SSL"}
