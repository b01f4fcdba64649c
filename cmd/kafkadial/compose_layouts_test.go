package main

import (
	"fmt"
	"net"
	"path/filepath"
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
	c = startCluster(t, kafkatest.Topic("t", 2), kafkatest.Brokers(1), kafkatest.Advertise(net.JoinHostPort(host, p)), kafkatest.Publish(""))
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
		c := startCluster(t, kafkatest.Topic("t", 3), kafkatest.Advertise("broker-{id}:29092"))
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
		c := startCluster(t, kafkatest.Topic("t", 2), kafkatest.Brokers(1), kafkatest.Advertise("localhost:9094"))
		_, pub, _ := net.SplitHostPort(c.Seed())
		code, rules, _ := fromCompose(t, map[string]string{"EXTERNAL_PORT": pub}, composeFile("mounted-properties"))
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		wantRules(t, rules, "localhost:9094 => "+c.Seed())
		mustContain(t, "rules", rules, "# read ./server.properties, mounted at /mnt/shared/config/server.properties",
			"# kafka:29092 is not reachable from the host: listener PLAINTEXT: container port 29092 is not published: it serves containers on the compose network; host clients use listener EXTERNAL")
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
		c := startCluster(t, kafkatest.Topic("t", 2), kafkatest.Brokers(1), kafkatest.Advertise("docker-machine.invalid:9092"))
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
		c := startCluster(t, kafkatest.Topic("t", 2), kafkatest.Brokers(1), kafkatest.Advertise("198.18.255.1:9094"))
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
		c := startCluster(t, kafkatest.Brokers(3), kafkatest.Topic("t", 3), kafkatest.Kfake(kfake.ListenFn(listen)), kafkatest.Publish(""))
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
		c := startCluster(t, kafkatest.Topic("t", 2), kafkatest.Brokers(1), kafkatest.Advertise("redpanda:9092"))
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
		c := startCluster(t, kafkatest.Topic("t", 2), kafkatest.Brokers(1), kafkatest.Advertise("kafka-proxy:29092"))
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
	})
}
