package main

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/kafkatest"
	"github.com/twmb/franz-go/pkg/kfake"
)

// hostListenerCluster starts a one-broker cluster that advertises host:P
// for a loopback port P it publishes itself (P:P in compose terms): a
// forwarder on P plays docker-proxy, or the proxy service in front of the
// broker.
func hostListenerCluster(t *testing.T, host string) (c *kafkatest.Cluster, p string) {
	t.Helper()
	ln := reserve(t)
	p = fmt.Sprint(port(ln))
	c = startCluster(t, kafkatest.WithTopic("t", 2), kafkatest.WithBrokers(1), kafkatest.WithAdvertise(net.JoinHostPort(host, p)), kafkatest.WithPublish(""))
	publishOn(t, ln, c.Brokers[0].Listen)
	return c, p
}

func composeFile(dir string) string { return filepath.Join("testdata/compose", dir, "compose.yaml") }

// TestComposeNewLayoutsProduceConsume: for each layout from-compose has
// learnt, a compose file written for it, an embedded cluster advertising
// exactly what the file makes the brokers advertise and published where
// the file publishes them, and records produced and consumed through a
// strict dialer holding only the derived rules.
func TestComposeNewLayoutsProduceConsume(t *testing.T) {
	t.Run("isolated KRaft controllers", func(t *testing.T) {
		c := startCluster(t, kafkatest.WithTopic("t", 3), kafkatest.WithAdvertise("broker-{id}:29092"))
		code, rules, stderr := fromCompose(t, portsEnv(c, "BROKER_%d_PORT"), composeFile("kraft-isolated"))
		if code != 0 || stderr != "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		wantRules(t, rules, derived(c)...)
		for i := 1; i <= 3; i++ {
			mustContain(t, "rules", rules, fmt.Sprintf("# service controller-%d (apache/kafka:3.9.1): KRaft controller only (KAFKA_PROCESS_ROLES=controller): clients never dial it, so it needs no rule", i))
		}
		mustNotContain(t, "rules", rules, "PROBLEM", "controller-1:", ":9093")
		produceConsume(t, rules, c.Seed(), "t", 9)
	})
	t.Run("listeners in a mounted server.properties", func(t *testing.T) {
		c := startCluster(t, kafkatest.WithTopic("t", 2), kafkatest.WithBrokers(1), kafkatest.WithAdvertise("localhost:9094"))
		_, pub, _ := net.SplitHostPort(c.Seed())
		code, rules, _ := fromCompose(t, map[string]string{"EXTERNAL_PORT": pub}, composeFile("mounted-properties"))
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		wantRules(t, rules, "localhost:9094 => "+c.Seed())
		mustContain(t, "rules", rules, "# read ./server.properties, mounted at /mnt/shared/config/server.properties",
			"# kafka:29092 is not reachable from the host: listener PLAINTEXT: container port 29092 is not published: it serves containers on its network; host clients use listener EXTERNAL")
		mustNotContain(t, "rules", rules, "CONTROLLER", "9093")
		produceConsume(t, rules, c.Seed(), "t", 6)
	})
	t.Run("protocol map and controller names left to the image", func(t *testing.T) {
		c, p := hostListenerCluster(t, "localhost")
		code, rules, stderr := fromCompose(t, map[string]string{"HOST_PORT": p}, composeFile("image-config"))
		if code != 0 || stderr != "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		wantRules(t, rules, "localhost:"+p+" => 127.0.0.1:"+p)
		mustContain(t, "rules", rules, "# assumed: KAFKA_CONTROLLER_LISTENER_NAMES is not set here: listener CONTROLLER is taken as the controller listener")
		mustNotContain(t, "rules", rules, "PROBLEM", "refuses", ":9093")
		produceConsume(t, rules, "127.0.0.1:"+p, "t", 6)
		_ = c
	})
	t.Run("wurstmeister, KAFKA_ADVERTISED_HOST_NAME and PORT", func(t *testing.T) {
		c := startCluster(t, kafkatest.WithTopic("t", 2), kafkatest.WithBrokers(1), kafkatest.WithAdvertise("docker-machine.invalid:9092"))
		_, pub, _ := net.SplitHostPort(c.Seed())
		code, rules, stderr := fromCompose(t, map[string]string{"KAFKA_HOST_PORT": pub}, composeFile("wurstmeister"))
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		wantRules(t, rules, "docker-machine.invalid:9092 => "+c.Seed())
		mustContain(t, "rules", rules, "# assumed: KAFKA_PORT is not set: the broker listens on 9092, Kafka's default port")
		// The file's version: "2" is said once, briefly.
		if n := strings.Count(stderr, "version"); n != 1 || !strings.Contains(stderr, "kafkadial: compose: the top-level version: is obsolete; compose ignores it") {
			t.Errorf("stderr %q", stderr)
		}
		produceConsume(t, rules, c.Seed(), "t", 6)
	})
	t.Run("wurstmeister, host from HOSTNAME_COMMAND", func(t *testing.T) {
		// HOSTNAME_COMMAND prints the gateway's address, here that of the
		// Docker bridge; whatever it prints, the rule holds.
		c := startCluster(t, kafkatest.WithTopic("t", 2), kafkatest.WithBrokers(1), kafkatest.WithAdvertise("198.18.255.1:9094"))
		_, pub, _ := net.SplitHostPort(c.Seed())
		code, rules, _ := fromCompose(t, map[string]string{"OUTSIDE_PORT": pub}, composeFile("wurstmeister-hostname-command"))
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		wantRules(t, rules, "*:9094 => "+c.Seed())
		mustContain(t, "rules", rules, `listener OUTSIDE advertises _{HOSTNAME_COMMAND}:9094: the host is computed at container start by HOSTNAME_COMMAND ("ip route | awk '/^default/ { print $3 }'")`,
			"# <container hostname>:9092 is not reachable from the host: listener INSIDE")
		produceConsume(t, rules, c.Seed(), "t", 6)
	})
	t.Run("wurstmeister scaled, port from PORT_COMMAND", func(t *testing.T) {
		// Each replica's 9092 is published on a port docker picks, which
		// it advertises with the Docker host's name.
		listen := func(network, _ string) (net.Listener, error) {
			ln, err := net.Listen(network, "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			return kafkatest.AdvertiseAs(ln, fmt.Sprintf("docker-host.invalid:%d", port(ln))), nil
		}
		c := startCluster(t, kafkatest.WithBrokers(3), kafkatest.WithTopic("t", 3), kafkatest.WithKfake(kfake.ListenFn(listen)), kafkatest.WithPublish(""))
		code, rules, _ := fromCompose(t, nil, composeFile("wurstmeister-port-command"))
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		wantRules(t, rules, "docker-host.invalid => 127.0.0.1")
		mustContain(t, "rules", rules, `the port is computed at container start by PORT_COMMAND ("docker port $(hostname) 9092/tcp | cut -d: -f2")`, "bootstrap from the port docker compose port kafka 9092 prints")
		mustNotContain(t, "rules", rules, "scale")
		produceConsume(t, rules, c.Kfake().ListenAddrs()[0], "t", 9)
	})
	t.Run("Redpanda, flags in a command list", func(t *testing.T) {
		_, p := hostListenerCluster(t, "localhost")
		code, rules, stderr := fromCompose(t, map[string]string{"EXTERNAL_PORT": p}, composeFile("redpanda"))
		if code != 0 || stderr != "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		wantRules(t, rules, "localhost:"+p+" => 127.0.0.1:"+p)
		mustContain(t, "rules", rules, "# redpanda-0:9092 is not reachable from the host: listener internal: container port 9092 is not published",
			"listener external, container port 19092 published as 127.0.0.1:"+p)
		mustNotContain(t, "rules", rules, "console")
		produceConsume(t, rules, "127.0.0.1:"+p, "t", 6)
	})
	t.Run("Redpanda, one-line command, unnamed listener", func(t *testing.T) {
		c := startCluster(t, kafkatest.WithTopic("t", 2), kafkatest.WithBrokers(1), kafkatest.WithAdvertise("redpanda:9092"))
		_, pub, _ := net.SplitHostPort(c.Seed())
		code, rules, _ := fromCompose(t, map[string]string{"RP_PORT": pub}, composeFile("redpanda-string"))
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		wantRules(t, rules, "redpanda:9092 => "+c.Seed())
		produceConsume(t, rules, c.Seed(), "t", 6)
	})
	t.Run("toxiproxy publishes the advertised port", func(t *testing.T) {
		_, p := hostListenerCluster(t, "localhost")
		code, rules, _ := fromCompose(t, map[string]string{"PROXY_PORT": p}, composeFile("proxy-toxiproxy"))
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		wantRules(t, rules, "localhost:"+p+" => 127.0.0.1:"+p)
		mustContain(t, "rules", rules, "listener EXTERNAL: host port "+p+" is published by service toxiproxy (ghcr.io/shopify/toxiproxy:2.9.0), from its container port 19092",
			"reachable as advertised")
		mustNotContain(t, "rules", rules, "# localhost:"+p+" is not reachable", "publish it", "PROBLEM")
		produceConsume(t, rules, "127.0.0.1:"+p, "t", 6)
	})
	t.Run("socat sidecar named by the advertised host", func(t *testing.T) {
		c := startCluster(t, kafkatest.WithTopic("t", 2), kafkatest.WithBrokers(1), kafkatest.WithAdvertise("kafka-proxy:29092"))
		_, pub, _ := net.SplitHostPort(c.Seed())
		code, rules, _ := fromCompose(t, map[string]string{"SOCAT_PORT": pub}, composeFile("proxy-socat"))
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		wantRules(t, rules, "kafka-proxy:29092 => "+c.Seed())
		mustContain(t, "rules", rules, "kafka-proxy names service kafka-proxy (alpine/socat), which publishes its port 29092 as "+c.Seed())
		produceConsume(t, rules, c.Seed(), "t", 6)
	})
	t.Run("a placeholder advertised literally", func(t *testing.T) {
		_, p := hostListenerCluster(t, "_{HOSTNAME_COMMAND}")
		code, rules, _ := fromCompose(t, map[string]string{"HOST_PORT": p}, composeFile("literal-host"))
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		wantRules(t, rules, `"_{HOSTNAME_COMMAND}":`+p+" => 127.0.0.1:"+p)
		mustContain(t, "rules", rules, "the host is written in quotes, so the rule matches it literally", "HOSTNAME_COMMAND is not set")
		// The rule takes that name only, never as a {capture}.
		d, err := dialer.New(dialer.WithRules(rules))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		for _, a := range []string{"_x:" + p, "_HOSTNAME_COMMAND:" + p, "_{other}:" + p} {
			if rt, err := d.Route(a); err != nil || rt.Rule != "" {
				t.Errorf("%s routed by %q (%v)", a, rt.Rule, err)
			}
		}
		produceConsume(t, rules, "127.0.0.1:"+p, "t", 6)

		// rules check, as a user runs it on the file, accepts it.
		f := writeFile(t, t.TempDir(), "compose.rules", rules)
		if code, stdout, stderr := runWith(t, envCLI(nil), "rules", "check", f); code != 0 || stdout != "" || stderr != "" {
			t.Errorf("rules check: exit %d, %q, %q", code, stdout, stderr)
		}
	})
}

// TestComposeLayoutCases: the finer points of each layout, one compose
// project per case, checked in the command's words.
func TestComposeLayoutCases(t *testing.T) {
	const sock = "    volumes: [\"/var/run/docker.sock:/var/run/docker.sock\"]\n"
	for _, tc := range []struct {
		name   string
		files  map[string]string // compose.yaml and what it mounts
		args   []string
		code   int
		rules  []string
		want   []string // in stdout or stderr
		stderr []string // in stderr
		not    []string // in neither
	}{
		// Controllers and the exit status.
		{
			name: "bitnami controller-only node",
			files: map[string]string{"compose.yaml": svc("b", "PLAINTEXT://b:9092", "PLAINTEXT://:9092", `ports: ["9092:9092"]`) +
				"  c:\n    image: bitnami/kafka:3.9\n    environment:\n      - KAFKA_CFG_PROCESS_ROLES=controller\n      - KAFKA_CFG_LISTENERS=CONTROLLER://:9093\n      - KAFKA_CFG_CONTROLLER_LISTENER_NAMES=CONTROLLER\n"},
			code: 0, rules: []string{"b:9092 => 127.0.0.1:9092"},
			want: []string{"# service c (bitnami/kafka:3.9): KRaft controller only (KAFKA_CFG_PROCESS_ROLES=controller)"},
		},
		{
			name:   "controllers only",
			files:  map[string]string{"compose.yaml": "services:\n  c:\n    image: apache/kafka:3.9.1\n    environment:\n      KAFKA_PROCESS_ROLES: controller\n      KAFKA_LISTENERS: CONTROLLER://:9093\n"},
			code:   1,
			stderr: []string{"no Kafka broker in", "every Kafka service is a KRaft controller only"},
		},
		{
			name: "a broker the host cannot reach, beside a controller",
			files: map[string]string{"compose.yaml": svc("b", "PLAINTEXT://b:29092", "PLAINTEXT://:29092", `ports: []`) +
				"  c:\n    image: apache/kafka:3.9.1\n    environment:\n      KAFKA_PROCESS_ROLES: controller\n      KAFKA_LISTENERS: CONTROLLER://:9093\n"},
			code:   1,
			stderr: []string{"kafkadial: rules from-compose: service b: the host reaches none of the addresses this broker advertises"},
			not:    []string{"service c:"},
		},
		{
			name: "controller role from a mounted file",
			files: map[string]string{
				"compose.yaml":      svc("b", "PLAINTEXT://b:9092", "PLAINTEXT://:9092", `ports: ["9092:9092"]`) + "  c:\n    image: apache/kafka:3.9.1\n    volumes: [\"./c.properties:/opt/kafka/config/server.properties\"]\n",
				"c.properties":      "process.roles=controller\nlisteners=CONTROLLER://:9093\n",
				"unused.properties": "listeners=X://:1\n",
			},
			code: 0, rules: []string{"b:9092 => 127.0.0.1:9092"},
			want: []string{"# service c (apache/kafka:3.9.1): KRaft controller only (process.roles=controller in ./c.properties:1)"},
		},

		// Mounted configuration, and settings left to the image.
		{
			name:  "mounted file missing",
			files: map[string]string{"compose.yaml": svc("k", "PLAINTEXT://k:9092", "", `ports: ["9092:9092"]`, "", `volumes: ["./gone/server.properties:/mnt/shared/config/server.properties"]`)},
			code:  0, rules: []string{"k:9092 => 127.0.0.1:9092"},
			want: []string{"# assumed: ./gone/server.properties, mounted at /mnt/shared/config/server.properties, is not there: the environment is taken as the whole configuration"},
		},
		{
			name: "the environment wins over the file",
			files: map[string]string{
				"compose.yaml":      svc("k", "PLAINTEXT://from-env:9092", "", `ports: ["9092:9092"]`, "", `volumes: ["./server.properties:/mnt/shared/config/server.properties"]`),
				"server.properties": "listeners=PLAINTEXT://:9092\nadvertised.listeners=PLAINTEXT://from-file:9092\n",
			},
			code: 0, rules: []string{"from-env:9092 => 127.0.0.1:9092"},
			want: []string{"# read ./server.properties, mounted at /mnt/shared/config/server.properties"},
		},
		{
			name: "a file the command names, in a mounted directory, with --override",
			files: map[string]string{
				"compose.yaml":           "services:\n  k:\n    image: apache/kafka:3.9.1\n    command: [\"/opt/kafka/bin/kafka-server-start.sh\", \"/etc/custom/broker.properties\", \"--override\", \"advertised.listeners=PLAINTEXT://over.invalid:9092\"]\n    volumes: [\"./conf:/etc/custom\"]\n    ports: [\"19092:9092\"]\n",
				"conf/broker.properties": "listeners=PLAINTEXT://:9092\nadvertised.listeners=PLAINTEXT://file.invalid:9092\n",
			},
			code: 0, rules: []string{"over.invalid:9092 => 127.0.0.1:19092"},
			want: []string{"# read ./conf/broker.properties, mounted at /etc/custom/broker.properties"},
		},
		{
			name: "a mounted directory holding server.properties, nothing in the environment",
			files: map[string]string{
				"compose.yaml":             "services:\n  k:\n    image: bitnami/kafka:3.9\n    volumes: [\"./config:/opt/bitnami/kafka/config\"]\n    ports: [\"19092:9094\"]\n",
				"config/server.properties": "listeners=INTERNAL://:9092,EXTERNAL://:9094\nadvertised.listeners=INTERNAL://k:9092,EXTERNAL://k.example.invalid:9094\nlistener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:SSL\n",
			},
			code: 0, rules: []string{"k.example.invalid:9094 => 127.0.0.1:19092"},
			want: []string{"# read ./config/server.properties, mounted at /opt/bitnami/kafka/config/server.properties", "TLS verifies k.example.invalid"},
		},
		{
			name:  "listeners left to the image",
			files: map[string]string{"compose.yaml": "services:\n  k:\n    image: apache/kafka:3.9.1\n    ports: [\"9092:9092\"]\n    environment:\n      KAFKA_NODE_ID: 1\n"},
			code:  1, stderr: []string{"neither KAFKA_ADVERTISED_LISTENERS nor KAFKA_LISTENERS is set here: the image's own configuration decides what it advertises, which this command cannot see"},
		},

		// wurstmeister's settings and what its start script computes.
		{
			name:  "the port docker publishes, asked by the start script",
			files: map[string]string{"compose.yaml": "services:\n  k:\n    image: wurstmeister/kafka\n    ports: [\"9092\"]\n" + sock + "    environment:\n      KAFKA_ADVERTISED_HOST_NAME: h.invalid\n"},
			code:  0, rules: []string{"h.invalid => 127.0.0.1"},
			want: []string{"computed at container start by wurstmeister's start script, which asks docker port for the host port of container port 9092"},
		},
		{
			name:  "the legacy host from HOSTNAME_COMMAND",
			files: map[string]string{"compose.yaml": "services:\n  k:\n    image: wurstmeister/kafka\n    ports: [\"19092:9092\"]\n    environment:\n      HOSTNAME_COMMAND: hostname -f\n      KAFKA_ADVERTISED_PORT: 9092\n"},
			code:  0, rules: []string{"*:9092 => 127.0.0.1:19092"},
			want: []string{`the host is computed at container start by HOSTNAME_COMMAND ("hostname -f")`},
		},
		{
			name:  "host and port both computed",
			files: map[string]string{"compose.yaml": "services:\n  k:\n    image: wurstmeister/kafka\n    ports: [\"9092\"]\n    environment:\n      HOSTNAME_COMMAND: hostname -f\n      PORT_COMMAND: 'docker port $$(hostname) 9092/tcp | cut -d: -f2'\n      KAFKA_ADVERTISED_HOST_NAME: _{HOSTNAME_COMMAND}\n      KAFKA_ADVERTISED_PORT: _{PORT_COMMAND}\n"},
			code:  1, want: []string{"advertises an address computed at container start", "no rule can be written before it runs"},
		},
		{
			name: "a host-only rule that would take another broker's address",
			files: map[string]string{"compose.yaml": "services:\n  k:\n    image: wurstmeister/kafka\n    ports: [\"9092\"]\n    environment:\n      PORT_COMMAND: 'docker port $$(hostname) 9092/tcp | cut -d: -f2'\n      KAFKA_ADVERTISED_HOST_NAME: shared.invalid\n      KAFKA_ADVERTISED_PORT: _{PORT_COMMAND}\n" +
				svcBody("j", "PLAINTEXT://shared.invalid:9093", "", `ports: ["9093:9093"]`)},
			code: 1, rules: []string{"shared.invalid:9093 => 127.0.0.1:9093"},
			want: []string{"a rule for host shared.invalid alone would also take shared.invalid:9093, which service j advertises"},
		},
		{
			name:  "the legacy form on an image whose Kafka dropped it",
			files: map[string]string{"compose.yaml": "services:\n  k:\n    image: apache/kafka:3.9.1\n    ports: [\"9092:9092\"]\n    environment:\n      KAFKA_ADVERTISED_HOST_NAME: h.invalid\n"},
			code:  0, rules: []string{"h.invalid:9092 => 127.0.0.1:9092"},
			stderr: []string{"KAFKA_ADVERTISED_HOST_NAME: the apache/kafka image runs Kafka 3.7 or later, which no longer reads advertised.host.name"},
		},
		{
			name:  "a port placeholder without PORT_COMMAND",
			files: map[string]string{"compose.yaml": "services:\n  k:\n    image: wurstmeister/kafka\n    ports: [\"9092:9092\"]\n    environment:\n      KAFKA_ADVERTISED_HOST_NAME: h.invalid\n      KAFKA_ADVERTISED_PORT: _{PORT_COMMAND}\n"},
			code:  1, stderr: []string{`KAFKA_ADVERTISED_PORT: "_{PORT_COMMAND}" is not a port`},
		},

		// Redpanda.
		{
			name:  "Redpanda without listener flags",
			files: map[string]string{"compose.yaml": "services:\n  rp:\n    image: redpandadata/redpanda\n    command: redpanda start --smp 1\n    ports: [\"9092:9092\"]\n"},
			code:  1, want: []string{"--kafka-addr is not given: Redpanda listens on 0.0.0.0:9092", "advertises 0.0.0.0, the non-routable meta-address"},
		},
		{
			name:  "Redpanda named listeners, = form",
			files: map[string]string{"compose.yaml": "services:\n  rp:\n    image: redpandadata/redpanda\n    command: [\"redpanda\", \"start\", \"--kafka-addr=in://0.0.0.0:9092,out://0.0.0.0:19092\", \"--advertise-kafka-addr=in://rp:9092,out://rp.example.invalid:19092\"]\n    ports: [\"29092:19092\"]\n"},
			code:  0, rules: []string{"rp.example.invalid:19092 => 127.0.0.1:29092"},
			want: []string{"# rp:9092 is not reachable from the host: listener in: container port 9092 is not published: it serves containers on its network; host clients use listener out"},
		},

		// Ports another service publishes.
		{
			name: "an nginx stream proxy publishes the advertised port",
			files: map[string]string{"compose.yaml": svc("kafka", "EXTERNAL://localhost:9092", "EXTERNAL://:9094", `ports: []`, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: EXTERNAL:PLAINTEXT") +
				"  edge:\n    image: nginx:1.27\n    ports: [\"9092:9092\", \"8080:80\"]\n"},
			code: 0, rules: []string{"localhost:9092 => 127.0.0.1:9092"},
			want: []string{"host port 9092 is published by service edge (nginx:1.27), from its container port 9092: the connection goes through edge", "reachable as advertised"},
			not:  []string{"publish it", "not published"},
		},
		{
			name: "a proxy bound to another address than the advertised one",
			files: map[string]string{"compose.yaml": svc("kafka", "EXTERNAL://localhost:9092", "EXTERNAL://:9094", `ports: []`, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: EXTERNAL:PLAINTEXT") +
				"  edge:\n    image: nginx:1.27\n    ports: [\"198.18.0.7:9092:9092\"]\n"},
			code: 1, want: []string{"# localhost:9092 is not reachable from the host: listener EXTERNAL: container port 9094 is not published"},
		},
		{
			name: "advice never names a host port another service publishes",
			files: map[string]string{"compose.yaml": svc("kafka", "PLAINTEXT://kafka:9092", "PLAINTEXT://:9092", `ports: []`) +
				"  web:\n    image: nginx:1.27\n    ports: [\"9092:80\"]\n"},
			code: 1, want: []string{`publish it (ports: - "HOSTPORT:9092" on service kafka (HOSTPORT a host port no service publishes yet)) and the rule kafka:9092 => 127.0.0.1:HOSTPORT would do the rest: what it advertises can stay`},
		},

		// The smaller points.
		{
			name:  "--host: localhost needs a rule to the Docker host",
			files: map[string]string{"compose.yaml": svc("k", "PLAINTEXT://localhost:9092", "", `ports: ["9092:9092"]`)},
			args:  []string{"--host", "198.18.0.5"},
			code:  0, rules: []string{"localhost:9092 => 198.18.0.5:9092"},
			not: []string{"reachable as advertised", "::1"},
		},
		{
			name:  "--host: a port bound to the Docker host's loopback",
			files: map[string]string{"compose.yaml": svc("k", "PLAINTEXT://localhost:9092", "", `ports: ["127.0.0.1:9092:9092"]`)},
			args:  []string{"--host", "198.18.0.5"},
			code:  1, want: []string{"is published on the Docker host's 127.0.0.1 only (127.0.0.1:9092), which this machine does not reach"},
			not: []string{"reachable as advertised"},
		},
		{
			name:  "--host: advertised as the Docker host's name",
			files: map[string]string{"compose.yaml": svc("k", "PLAINTEXT://docker.example.invalid:9092", "", `ports: ["9092:9092"]`)},
			args:  []string{"--host", "docker.example.invalid"},
			code:  0, rules: []string{"docker.example.invalid:9092 => docker.example.invalid:9092"},
			want: []string{"reachable as advertised"},
			not:  []string{"::1"},
		},
		{
			name:  "127.0.0.1 advertised: no localhost note",
			files: map[string]string{"compose.yaml": svc("k", "PLAINTEXT://127.0.0.1:9092", "", `ports: ["9092:9092"]`)},
			code:  0, rules: []string{"127.0.0.1:9092 => 127.0.0.1:9092"},
			want: []string{"reachable as advertised"},
			not:  []string{"::1"},
		},
		{
			name: "advice names a different host port for each broker",
			files: map[string]string{"compose.yaml": svc("a", "PLAINTEXT://a:29092", "PLAINTEXT://:29092", `ports: []`) +
				svcBody("b", "PLAINTEXT://b:29092", "PLAINTEXT://:29092", `ports: []`)},
			code: 1, want: []string{`publish it (ports: - "29092:29092" on service a)`, `publish it (ports: - "HOSTPORT:29092" on service b (HOSTPORT a host port no service publishes yet))`},
		},
		{
			name: "advice names the service whose network the broker uses",
			files: map[string]string{"compose.yaml": svc("k", "PLAINTEXT://k:29092", "PLAINTEXT://:29092", `network_mode: "service:net"`) +
				"  net:\n    image: busybox\n"},
			code: 1, want: []string{`publish it (ports: - "29092:29092" on service net)`},
		},
		{
			name:  "an internal listener alone: a rule would do",
			files: map[string]string{"compose.yaml": svc("k", "PLAINTEXT://kafka:29092", "PLAINTEXT://:29092", `ports: []`)},
			code:  1, want: []string{`publish it (ports: - "29092:29092" on service k) and the rule kafka:29092 => 127.0.0.1:29092 would do the rest: what it advertises can stay`},
			not: []string{"advertise an address"},
		},
		{
			name:  "version: said once, briefly",
			files: map[string]string{"compose.yaml": "version: \"3.8\"\n" + svc("k", "PLAINTEXT://k:9092", "", `ports: ["9092:9092"]`)},
			code:  0, rules: []string{"k:9092 => 127.0.0.1:9092"},
			stderr: []string{"kafkadial: compose: the top-level version: is obsolete; compose ignores it (--verbose for details)\n"},
			not:    []string{"potential confusion"},
		},
		{
			name:  "version: compose-go's words with --verbose",
			files: map[string]string{"compose.yaml": "version: \"3.8\"\n" + svc("k", "PLAINTEXT://k:9092", "", `ports: ["9092:9092"]`)},
			args:  []string{"--verbose"},
			code:  0, rules: []string{"k:9092 => 127.0.0.1:9092"},
			stderr: []string{"kafkadial: compose: warning: ", "the attribute `version` is obsolete"},
		},

		// Hosts holding the rule language's characters.
		{
			name:  "a glob character, quoted",
			files: map[string]string{"compose.yaml": svc("k", "PLAINTEXT://kafka-*.local:9092", "", `ports: ["9092:9092"]`)},
			code:  0, rules: []string{`"kafka-*.local":9092 => 127.0.0.1:9092`},
		},
		{
			name:  "white space in a template placeholder: refused with a comment",
			files: map[string]string{"compose.yaml": svc("k", "PLAINTEXT://{{ broker }}:9092", "", `ports: ["9092:9092"]`)},
			code:  1, want: []string{`# {{ broker }}:9092 is not reachable from the host: listener PLAINTEXT advertises {{ broker }}:9092: host "{{ broker }}" holds ' ', which no rule can name`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				writeFile(t, dir, name, content)
			}
			args := append(slices.Clone(tc.args), filepath.Join(dir, "compose.yaml"))
			code, stdout, stderr := fromCompose(t, nil, args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s\n%s", code, tc.code, stdout, stderr)
			}
			if got := ruleLines(stdout); !slices.Equal(got, tc.rules) {
				t.Errorf("rules %q, want %q\n%s", got, tc.rules, stdout)
			}
			mustContain(t, "output", stdout+stderr, tc.want...)
			mustContain(t, "stderr", stderr, tc.stderr...)
			mustNotContain(t, "output", stdout+stderr, tc.not...)
			if code == 1 && stderr == "" {
				t.Errorf("exit 1 without a reason on stderr")
			}
		})
	}
}
