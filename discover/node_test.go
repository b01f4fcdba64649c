package discover

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// The derivation reads nodes only: two made by hand, a broker and a
// proxy that publishes the port its advertised alias names.
func TestDeriveNodes(t *testing.T) {
	nodes := []*node{
		{name: "kafka", image: "apache/kafka:3.9.1", env: map[string]string{
			"KAFKA_LISTENERS":                      "PLAINTEXT://:9092,EXTERNAL://:9094",
			"KAFKA_ADVERTISED_LISTENERS":           "PLAINTEXT://edge:29092,EXTERNAL://localhost:9094",
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT",
		}, ports: []port{{target: 9094, published: "19094"}}},
		{name: "proxy", image: "socat", aliases: []string{"edge"}, ports: []port{{target: 29092, published: "29092", hostIP: "127.0.0.1"}}},
	}
	res := derive(nodes, &config{})
	want := []string{"edge:29092 => 127.0.0.1:29092", "localhost:9094 => 127.0.0.1:19094"}
	if !res.OK() || len(res.Services) != 1 || !slices.Equal(res.Rules(), want) {
		t.Fatalf("ok %v, rules %q; want %q\n%+v", res.OK(), res.Rules(), want, res.Services)
	}
	ls := res.Services[0].Listeners
	if ls[0].Reach != ReachNamedService || ls[1].Reach != ReachPublished || ls[1].Protocol != "SASL_PLAINTEXT" {
		t.Errorf("listeners %+v", ls)
	}
}

// The compose front end: what compose-go loaded, as nodes.
func TestComposeNodes(t *testing.T) {
	dir := t.TempDir()
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir: dir,
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: []byte(`services:
  k:
    image: apache/kafka:3.9.1
    hostname: kh
    scale: 2
    networks:
      default:
        aliases: [ka]
    entrypoint: [/bin/sh, -c]
    command: ["exec kafka-server-start.sh /c/server.properties"]
    environment: [KAFKA_NODE_ID=1, UNSET]
    volumes: ["./conf:/c", "data:/var/lib/kafka", "/var/run/docker.sock:/var/run/docker.sock"]
    ports: ["127.0.0.1:9092:9092", "9093/udp"]
  c:
    image: x
    container_name: kc
    network_mode: host
volumes:
  data:
`)}},
	}, func(o *loader.Options) { o.SetProjectName("t", true); o.ResolvePaths = false })
	if err != nil {
		t.Fatal(err)
	}
	nodes := composeNodes(p)
	slices.SortFunc(nodes, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	if len(nodes) != 2 {
		t.Fatalf("nodes %+v", nodes)
	}
	if c := nodes[0]; c.name != "c" || !slices.Equal(c.names(), []string{"c", "", "kc"}) || c.networkMode != "host" || c.scale != 0 {
		t.Errorf("node %+v", c)
	}
	n := nodes[1]
	if n.name != "k" || n.image != "apache/kafka:3.9.1" || !slices.Equal(n.names(), []string{"k", "kh", "ka"}) || n.scale != 2 || n.networkMode != "" || n.dir != dir {
		t.Errorf("node %+v", n)
	}
	if want := []string{"/bin/sh", "-c", "exec kafka-server-start.sh /c/server.properties"}; !slices.Equal(n.command, want) {
		t.Errorf("command %q, want %q", n.command, want)
	}
	if v, ok := n.env["UNSET"]; !ok || v != "" || n.env["KAFKA_NODE_ID"] != "1" {
		t.Errorf("env %q", n.env)
	}
	wantMounts := []mount{{bind: true, source: filepath.Join(dir, "conf"), target: "/c"}, {source: "data", target: "/var/lib/kafka"}, {bind: true, source: "/var/run/docker.sock", target: "/var/run/docker.sock"}}
	if !slices.Equal(n.mounts, wantMounts) {
		t.Errorf("mounts %+v, want %+v", n.mounts, wantMounts)
	}
	wantPorts := []port{{target: 9092, published: "9092", hostIP: "127.0.0.1", protocol: "tcp"}, {target: 9093, protocol: "udp"}}
	if !slices.Equal(n.ports, wantPorts) {
		t.Errorf("ports %+v, want %+v", n.ports, wantPorts)
	}
}
