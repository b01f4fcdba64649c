package discover

import "fmt"

// Problem is configuration that discovery cannot follow, or that stops a
// node or its clients. Code says which, with the facts behind it;
// String says it in words.
type Problem struct {
	Code ProblemCode

	setting  string   // where the value at fault is set (KAFKA_LISTENERS, --kafka-addr, "listeners in FILE:LINE")
	value    string   // the value at fault
	prop     string   // ProblemUnreadable: the property or flag that cannot be read
	want     string   // ProblemLegacySettings: the variable to set instead
	names    []string // ProblemImageConfig: the variables that are not set
	listener string   // ProblemNoProtocol
	addr     string   // ProblemSharedAddress: the address
	service  string   // ProblemSharedAddress: the service that keeps it; ProblemNotRunning: the container
	n        int      // ProblemScale: the scale
	err      error    // ProblemSyntax: the parser's error, which names the setting
}

// ProblemCode says what a Problem is.
type ProblemCode int

// The problems discovery reports.
const (
	ProblemUnknown ProblemCode = iota
	// ProblemSyntax: a setting that names listeners, addresses or
	// protocols does not parse.
	ProblemSyntax
	// ProblemBadPort: a port setting is not a port.
	ProblemBadPort
	// ProblemUnreadable: a setting the listeners depend on cannot be
	// read (it follows the ProblemSyntax or ProblemBadPort that says
	// why), so what the node advertises cannot be told.
	ProblemUnreadable
	// ProblemImageConfig: neither advertised listeners nor listeners are
	// set where discovery reads them: the image's own configuration
	// decides, which discovery cannot see.
	ProblemImageConfig
	// ProblemLegacySettings: the apache/kafka image (Kafka 3.7 or later)
	// is given advertised.host.name or advertised.port, which Kafka no
	// longer reads.
	ProblemLegacySettings
	// ProblemForeignNetwork: network_mode container: puts the node in
	// the network of a container outside the project, whose ports
	// discovery cannot see.
	ProblemForeignNetwork
	// ProblemNoProtocol: an explicit listener security protocol map
	// leaves a listener out (Kafka refuses to start).
	ProblemNoProtocol
	// ProblemScale: several replicas advertise the same addresses.
	ProblemScale
	// ProblemSharedAddress: another service advertises the same address
	// and keeps its rule.
	ProblemSharedAddress
	// ProblemUnreachable: the host reaches none of the addresses the
	// broker advertises.
	ProblemUnreachable
	// ProblemNotRunning: the container does not run (Docker only).
	ProblemNotRunning
)

var problemNames = [...]string{
	ProblemUnknown: "unknown", ProblemSyntax: "syntax", ProblemBadPort: "bad-port",
	ProblemUnreadable: "unreadable", ProblemImageConfig: "image-config",
	ProblemLegacySettings: "legacy-settings", ProblemForeignNetwork: "foreign-network",
	ProblemNoProtocol: "no-protocol", ProblemScale: "scale", ProblemSharedAddress: "shared-address",
	ProblemUnreachable: "unreachable", ProblemNotRunning: "not-running",
}

// String returns the code's name, such as "syntax" or "shared-address".
func (c ProblemCode) String() string {
	if c >= 0 && int(c) < len(problemNames) {
		return problemNames[c]
	}
	return fmt.Sprintf("ProblemCode(%d)", int(c))
}

// MarshalText returns String's name.
func (c ProblemCode) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Assumption is what discovery took for a setting that is absent or a
// file it could not read. Code says which, with the facts behind it;
// String says it in words.
type Assumption struct {
	Code AssumptionCode

	setting  string // the setting that is not set
	listener string // AssumedPlaintext, AssumedHostname
	hostname string // AssumedHostname
	file     ConfigFile
	err      error    // AssumedUnreadableFile
	replicas []string // AssumedReplicas: the containers besides service
	service  string   // AssumedReplicas: the container that stands for them
}

// AssumptionCode says what an Assumption is.
type AssumptionCode int

// The assumptions discovery makes.
const (
	AssumedUnknown AssumptionCode = iota
	// AssumedMissingFile: a mounted properties file is not there; the
	// environment is taken as the whole configuration.
	AssumedMissingFile
	// AssumedUnreadableFile: a mounted properties file cannot be read;
	// the environment is taken as the whole configuration.
	AssumedUnreadableFile
	// AssumedControllerListener: controller.listener.names is unset and
	// a listener is named CONTROLLER: it is taken as the controller
	// listener.
	AssumedControllerListener
	// AssumedDefaultPort: port is unset (settings before Kafka 3.0): the
	// broker listens on 9092.
	AssumedDefaultPort
	// AssumedRedpandaBind: --kafka-addr is not given: Redpanda listens on
	// 0.0.0.0:9092.
	AssumedRedpandaBind
	// AssumedRedpandaAdvertise: --advertise-kafka-addr is not given:
	// Redpanda advertises its --kafka-addr.
	AssumedRedpandaAdvertise
	// AssumedPlaintext: no listener security protocol map is set and a
	// listener's name is no protocol: it is taken as PLAINTEXT.
	AssumedPlaintext
	// AssumedHostname: a listener names no host: the broker advertises
	// its hostname.
	AssumedHostname
	// AssumedReplicas: several containers run one scaled compose service
	// (Docker only): what is said of the first holds for each.
	AssumedReplicas
)

var assumptionNames = [...]string{
	AssumedUnknown: "unknown", AssumedMissingFile: "missing-file", AssumedUnreadableFile: "unreadable-file",
	AssumedControllerListener: "controller-listener", AssumedDefaultPort: "default-port",
	AssumedRedpandaBind: "redpanda-bind", AssumedRedpandaAdvertise: "redpanda-advertise",
	AssumedPlaintext: "plaintext", AssumedHostname: "hostname", AssumedReplicas: "replicas",
}

// String returns the code's name, such as "plaintext" or "hostname".
func (c AssumptionCode) String() string {
	if c >= 0 && int(c) < len(assumptionNames) {
		return assumptionNames[c]
	}
	return fmt.Sprintf("AssumptionCode(%d)", int(c))
}

// MarshalText returns String's name.
func (c AssumptionCode) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// ConfigFile is a configuration file a node reads besides the compose
// file: a server.properties it bind-mounts. String says it in words.
type ConfigFile struct {
	// Path is the file on this machine, relative to the project
	// directory (./server.properties) when it is inside it.
	Path string
	// MountedAt is where the node reads it.
	MountedAt string
}
