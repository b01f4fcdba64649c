package main

import (
	"os"
	"slices"
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
	p, _, missing := dockerProject(snap, nil, "p")
	if len(missing) > 0 {
		t.Fatal(missing)
	}
	res := deriveRules(p, deriveOptions{target: "127.0.0.1"})
	if want := []string{"kafka-proxy:29092 => 127.0.0.1:19092"}; !res.OK || !slices.Equal(res.Rules, want) {
		t.Fatalf("ok %v, rules %q; want %q\n%+v", res.OK, res.Rules, want, res.Services)
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
	p, _, _ := dockerProject(docker.Snapshot{Host: "unix:///var/run/docker.sock", Containers: containers}, nil, "p")
	res := deriveRules(p, deriveOptions{target: "127.0.0.1"})
	if want := []string{"localhost:9094 => 127.0.0.1:29094", "redpanda:9092 => 127.0.0.1:19092"}; !res.OK || !slices.Equal(res.Rules, want) {
		t.Fatalf("ok %v, rules %q; want %q\n%+v", res.OK, res.Rules, want, res.Services)
	}
	p, _, _ = dockerProject(docker.Snapshot{Host: "tcp://docker.invalid:2375", Containers: containers}, nil, "p")
	if v := p.Services["p_kafka_1"].Volumes; len(v) != 0 {
		t.Errorf("a remote engine's bind mounts were taken as this machine's files: %+v", v)
	}
}
