package discover

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kafkadial/kafkadial/resolver/docker"
)

// TestProblems: each problem and assumption code, one small project per
// case, with the facts its words are made of.
func TestProblems(t *testing.T) {
	for _, tc := range []struct {
		name, compose string
		files         map[string]string // written beside compose.yaml
		problems      []ProblemCode
		assumed       []AssumptionCode
		words         string // in one of the problems' or assumptions' words
	}{
		{"syntax", svc("k", "PLAINTEXT://k", "", `ports: []`), nil,
			[]ProblemCode{ProblemSyntax, ProblemUnreadable}, nil, "its advertised listeners cannot be read"},
		{"bad port", svc("k", "", "", `ports: []`, "KAFKA_ADVERTISED_HOST_NAME: h\n      KAFKA_PORT: x"), nil,
			[]ProblemCode{ProblemBadPort, ProblemUnreadable}, nil, `KAFKA_PORT: "x" is not a port`},
		{"image config", "services:\n  k:\n    image: apache/kafka\n    environment:\n      KAFKA_NODE_ID: 1\n", nil,
			[]ProblemCode{ProblemImageConfig}, nil, "neither KAFKA_ADVERTISED_LISTENERS nor KAFKA_LISTENERS is set here"},
		{"legacy", svc("k", "", "", `ports: ["9092:9092"]`, "KAFKA_ADVERTISED_HOST_NAME: localhost"), nil,
			[]ProblemCode{ProblemLegacySettings}, []AssumptionCode{AssumedDefaultPort}, "set KAFKA_ADVERTISED_LISTENERS"},
		{"foreign network", svc("k", "PLAINTEXT://k:9092", "PLAINTEXT://:9092", `network_mode: "container:abc"`), nil,
			[]ProblemCode{ProblemForeignNetwork}, nil, "network_mode container:abc"},
		{"no protocol", svc("k", "X://localhost:9092", "X://:9092", `ports: ["9092:9092"]`, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: Y:SSL"), nil,
			[]ProblemCode{ProblemNoProtocol}, nil, "listener X has no security protocol in KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"},
		{"scale", svc("k", "PLAINTEXT://localhost:9092", "PLAINTEXT://:9092", `ports: ["9092:9092"]`, "", "scale: 2"), nil,
			[]ProblemCode{ProblemScale}, nil, "scale 2"},
		{"shared address", svc("a", "PLAINTEXT://kafka:9092", "PLAINTEXT://:9092", `ports: ["19092:9092"]`) + svcBody("b", "PLAINTEXT://kafka:9092", "PLAINTEXT://:9092", `ports: ["19093:9092"]`), nil,
			[]ProblemCode{ProblemSharedAddress}, nil, "kafka:9092 is advertised by service a too"},
		{"unreachable", svc("k", "PLAINTEXT://k:9092", "PLAINTEXT://:9092", `ports: []`), nil,
			[]ProblemCode{ProblemUnreachable}, nil, "the host reaches none of the addresses"},
		{"missing file", svc("k", "PLAINTEXT://localhost:9092", "PLAINTEXT://:9092", `ports: ["9092:9092"]`, "", `volumes: ["./server.properties:/opt/kafka/config/server.properties"]`), nil,
			nil, []AssumptionCode{AssumedMissingFile}, "./server.properties, mounted at /opt/kafka/config/server.properties, is not there"},
		{"unreadable file", svc("k", "PLAINTEXT://localhost:9092", "PLAINTEXT://:9092", `ports: ["9092:9092"]`, "", `volumes: ["./server.properties:/opt/kafka/config/server.properties"]`), map[string]string{"server.properties": "a=\xff\n"},
			nil, []AssumptionCode{AssumedUnreadableFile}, "cannot be read (not UTF-8 text)"},
		{"controller listener", svc("k", "PLAINTEXT://localhost:9092", "PLAINTEXT://:9092,CONTROLLER://:9093", `ports: ["9092:9092"]`, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"), nil,
			nil, []AssumptionCode{AssumedControllerListener}, "KAFKA_CONTROLLER_LISTENER_NAMES is not set here"},
		{"hostname", svc("k", "INSIDE://:9092", "INSIDE://:9092", `ports: ["9092:9092"]`, "", "hostname: khost"), nil,
			nil, []AssumptionCode{AssumedPlaintext, AssumedHostname}, "the broker advertises its hostname, khost"},
		{"plaintext", svc("k", "INSIDE://localhost:9092", "INSIDE://:9092", `ports: ["9092:9092"]`), nil,
			nil, []AssumptionCode{AssumedPlaintext}, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP is not set here: listener INSIDE is taken as PLAINTEXT"},
		{"redpanda", "services:\n  rp:\n    image: redpandadata/redpanda\n    ports: [\"9092:9092\"]\n    command: [redpanda, start]\n", nil,
			[]ProblemCode{ProblemUnreachable}, []AssumptionCode{AssumedRedpandaBind, AssumedRedpandaAdvertise}, "Redpanda advertises its --kafka-addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := filepath.Join(dir, "compose.yaml")
			if err := os.WriteFile(f, []byte(tc.compose), 0o600); err != nil {
				t.Fatal(err)
			}
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			res, err := Compose(t.Context(), f, WithEnviron(nil))
			if err != nil {
				t.Fatal(err)
			}
			var (
				problems []ProblemCode
				assumed  []AssumptionCode
				words    []string
			)
			for _, s := range res.Services {
				for _, p := range s.Problems {
					problems = append(problems, p.Code)
					words = append(words, p.String())
				}
				for _, a := range s.Assumed {
					assumed = append(assumed, a.Code)
					words = append(words, a.String())
				}
			}
			if !slices.Equal(problems, tc.problems) || !slices.Equal(assumed, tc.assumed) {
				t.Errorf("problems %v, assumed %v; want %v, %v\n%q", problems, assumed, tc.problems, tc.assumed, words)
			}
			if !slices.ContainsFunc(words, func(w string) bool { return strings.Contains(w, tc.words) }) {
				t.Errorf("no words say %q: %q", tc.words, words)
			}
			for _, w := range words {
				if w == "" || strings.Contains(w, "%!") || strings.Contains(w, "unknown") {
					t.Errorf("words %q", w)
				}
			}
		})
	}
}

// TestDockerProblems: a container that does not run, and the replicas
// of a scaled service, as codes.
func TestDockerProblems(t *testing.T) {
	env := []string{"KAFKA_LISTENERS=PLAINTEXT://:9092", "KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://localhost:9092"}
	var cs []docker.Container
	for i, state := range []string{"exited", "exited"} {
		cs = append(cs, docker.Container{ID: strings.Repeat(string(rune('a'+i)), 12), Name: "p_kafka_" + string(rune('1'+i)), State: state,
			Project: "p", Service: "kafka", Env: env, Ports: []docker.Port{{Port: 9092}}})
	}
	res, err := Docker(docker.Snapshot{Host: "unix:///var/run/docker.sock", Containers: cs}, WithContainers("p_kafka_1", "p_kafka_2"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Services) != 1 || res.OK() {
		t.Fatalf("ok %v, services %+v", res.OK(), res.Services)
	}
	s := res.Services[0]
	if got := s.Problems[len(s.Problems)-1]; got.Code != ProblemNotRunning || got.String() != "the container is exited: its ports are published only while it runs (docker start p_kafka_1)" {
		t.Errorf("problem %s: %s", got.Code, got)
	}
	if got := s.Assumed[len(s.Assumed)-1]; got.Code != AssumedReplicas || !slices.Equal(s.Replicas, []string{"p_kafka_2"}) || !strings.HasPrefix(got.String(), "p_kafka_2 run the same compose service") {
		t.Errorf("assumed %s: %s; replicas %q", got.Code, got, s.Replicas)
	}
}

// Every code has a name, and a code out of range says its number.
func TestCodeNames(t *testing.T) {
	for c := ProblemUnknown; c <= ProblemNotRunning; c++ {
		if b, _ := c.MarshalText(); c.String() == "" || strings.HasPrefix(c.String(), "ProblemCode(") || string(b) != c.String() {
			t.Errorf("problem %d: %q", int(c), c)
		}
	}
	for c := AssumedUnknown; c <= AssumedReplicas; c++ {
		if b, _ := c.MarshalText(); c.String() == "" || strings.HasPrefix(c.String(), "AssumptionCode(") || string(b) != c.String() {
			t.Errorf("assumption %d: %q", int(c), c)
		}
	}
	if ProblemCode(99).String() != "ProblemCode(99)" || AssumptionCode(-1).String() != "AssumptionCode(-1)" {
		t.Errorf("out of range: %s, %s", ProblemCode(99), AssumptionCode(-1))
	}
}
