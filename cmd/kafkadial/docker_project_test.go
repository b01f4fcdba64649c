package main

import (
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
