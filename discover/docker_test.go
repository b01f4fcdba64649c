package discover

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kafkadial/kafkadial/resolver/docker"
)

// A broker advertising the network alias of a proxy container (a socat
// sidecar, as docker compose names it by its service): from-docker follows
// the alias to the port the proxy publishes, as from-compose does with the
// service name.
func TestDockerProjectFollowsAliases(t *testing.T) {
	snap := docker.Snapshot{Host: "unix:///var/run/docker.sock", Containers: []docker.Container{
		{
			ID: "aaaaaaaaaaaa1", Name: "p_kafka_1", State: "running", Project: "p", Service: "kafka",
			Env:      []string{"KAFKA_CFG_LISTENERS=PLAINTEXT://:9092", "KAFKA_CFG_ADVERTISED_LISTENERS=PLAINTEXT://kafka-proxy:29092"},
			Networks: []docker.Network{{Name: "p_default", Aliases: []string{"kafka", "aaaaaaaaaaaa"}}},
			Ports:    []docker.Port{{Port: 9092}},
		},
		{
			ID: "bbbbbbbbbbbb1", Name: "p_kafka-proxy_1", State: "running", Project: "p", Service: "kafka-proxy",
			Networks: []docker.Network{{Name: "p_default", Aliases: []string{"kafka-proxy", "bbbbbbbbbbbb"}}},
			Ports:    []docker.Port{{Port: 29092, Bindings: []docker.Binding{{HostIP: "0.0.0.0", HostPort: 19092}}}},
		},
	}}
	res, err := Docker(snap, WithComposeProject("p"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kafka-proxy:29092 => 127.0.0.1:19092"}; !res.OK() || !slices.Equal(res.Rules(), want) {
		t.Fatalf("ok %v, rules %q; want %q\n%+v", res.OK(), res.Rules(), want, res.Services)
	}
}

// What the engine reports a container runs and mounts is read as
// from-compose reads the file: Redpanda's flags from its command, a Kafka
// node's listeners from the server.properties it mounts (on a local
// engine only: a remote engine's paths are not this machine's).
func TestDockerProjectCommandAndMounts(t *testing.T) {
	dir := t.TempDir()
	props := dir + "/server.properties"
	if err := os.WriteFile(props, []byte("listeners=EXTERNAL://:9094\nadvertised.listeners=EXTERNAL://localhost:9094\nlistener.security.protocol.map=EXTERNAL:PLAINTEXT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	containers := []docker.Container{
		{
			ID: "cccccccccccc1", Name: "p_redpanda_1", State: "running", Project: "p", Service: "redpanda",
			Entrypoint: []string{"/entrypoint.sh"}, Cmd: []string{"redpanda", "start", "--kafka-addr", "0.0.0.0:9092", "--advertise-kafka-addr", "redpanda:9092"},
			Ports: []docker.Port{{Port: 9092, Bindings: []docker.Binding{{HostIP: "0.0.0.0", HostPort: 19092}}}},
		},
		{
			ID: "dddddddddddd1", Name: "p_kafka_1", State: "running", Project: "p", Service: "kafka",
			Env:    []string{"KAFKA_NODE_ID=1"},
			Mounts: []docker.Mount{{Type: "bind", Source: props, Destination: "/mnt/shared/config/server.properties"}},
			Ports:  []docker.Port{{Port: 9094, Bindings: []docker.Binding{{HostIP: "0.0.0.0", HostPort: 29094}}}},
		},
	}
	res, err := Docker(docker.Snapshot{Host: "unix:///var/run/docker.sock", Containers: containers}, WithComposeProject("p"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"localhost:9094 => 127.0.0.1:29094", "redpanda:9092 => 127.0.0.1:19092"}; !res.OK() || !slices.Equal(res.Rules(), want) {
		t.Fatalf("ok %v, rules %q; want %q\n%+v", res.OK(), res.Rules(), want, res.Services)
	}
	nodes, _ := dockerNodes(docker.Snapshot{Host: "tcp://docker.invalid:2375", Containers: containers}, nil, "p")
	for _, n := range nodes {
		if len(n.mounts) != 0 {
			t.Errorf("a remote engine's bind mounts were taken as this machine's files: %s: %+v", n.name, n.mounts)
		}
	}
}

// Three replicas of a scaled wurstmeister service, each advertising the
// Docker host's name with the port PORT_COMMAND asks docker for: one
// service with a scale, whose one rule moves the host and keeps each
// replica's port, as from-compose writes for the file.
func TestDockerProjectReplicas(t *testing.T) {
	env := []string{"KAFKA_ADVERTISED_HOST_NAME=docker-host.invalid", "PORT_COMMAND=docker port $(hostname) 9092/tcp | cut -d: -f2", "KAFKA_ADVERTISED_PORT=_{PORT_COMMAND}"}
	var cs []docker.Container
	for i := 1; i <= 3; i++ {
		cs = append(cs, docker.Container{
			ID: fmt.Sprintf("%012d", i), Name: fmt.Sprintf("p_kafka_%d", i), State: "running", Project: "p", Service: "kafka", Env: env,
			Ports: []docker.Port{{Port: 9092, Random: true, Bindings: []docker.Binding{{HostIP: "0.0.0.0", HostPort: 32770 + i}}}},
		})
	}
	// A container of another service with the same configuration is no
	// replica.
	other := cs[0]
	other.Name, other.Service = "p_kafka-b_1", "kafka-b"
	nodes, _ := dockerNodes(docker.Snapshot{Host: "unix:///var/run/docker.sock", Containers: cs}, nil, "p")
	if len(nodes) != 1 || nodes[0].name != "p_kafka_1" || nodes[0].scale != 3 || !slices.Equal(nodes[0].replicas, []string{"p_kafka_2", "p_kafka_3"}) || nodes[0].hostname != "" {
		t.Fatalf("nodes %+v", nodes)
	}
	res, err := Docker(docker.Snapshot{Host: "unix:///var/run/docker.sock", Containers: cs}, WithComposeProject("p"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"docker-host.invalid => 127.0.0.1"}; !res.OK() || !slices.Equal(res.Rules(), want) {
		t.Fatalf("ok %v, rules %q; want %q\n%+v", res.OK(), res.Rules(), want, res.Services)
	}
	nodes, _ = dockerNodes(docker.Snapshot{Host: "unix:///var/run/docker.sock", Containers: append(cs[:1:1], other)}, nil, "p")
	if len(nodes) != 2 {
		t.Fatalf("containers of two services taken for replicas: %+v", nodes)
	}
}

// TestDockerAdvice: on an engine, the advice to publish a port is in
// docker run's words, whichever form compose's advice takes.
func TestDockerAdvice(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(f, []byte(svc("a", "PLAINTEXT://a:29092", "PLAINTEXT://:29092", `ports: []`)+
		svcBody("b", "PLAINTEXT://b:29092", "PLAINTEXT://:29092", `ports: []`)), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Compose(t.Context(), f, WithEnviron(nil))
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, s := range res.Services {
		for _, l := range s.Listeners {
			if !strings.Contains(l.Explain(), `publish it (ports: - "`) {
				t.Errorf("compose advice %q", l.Explain())
			}
			l.docker = true
			notes = append(notes, l.Explain())
		}
	}
	if len(notes) != 2 {
		t.Fatalf("notes %q", notes)
	}
	for _, n := range notes {
		if !strings.HasSuffix(n, `publish it (docker run -p 127.0.0.1::29092, or compose ports: ["29092"])`) {
			t.Errorf("note %q", n)
		}
	}
}
