package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/composetest"
	"github.com/kafkadial/kafkadial/kafkatest"
	"github.com/twmb/franz-go/pkg/kfake"
)

// fromCompose runs rules from-compose with env as the whole environment and
// returns the derived rules, checked for syntax, shadowing and hops.
func fromCompose(t *testing.T, env map[string]string, args ...string) (code int, rules, stderr string) {
	t.Helper()
	code, stdout, stderr := runWith(t, envCLI(env), append([]string{"rules", "from-compose"}, args...)...)
	if code == 2 {
		t.Fatalf("from-compose: exit 2\n%s", stderr)
	}
	fs, err := dialer.Check(dialer.WithNamedRules("derived", stdout))
	if err != nil || len(fs) > 0 {
		t.Fatalf("derived rules do not check clean: %v %v\n%s", err, fs, stdout)
	}
	return code, stdout, stderr
}

// ruleLines lists the rules of a derived file, without the rules that keep
// published addresses as they are.
func ruleLines(rules string) []string {
	var out []string
	for _, l := range strings.Split(rules, "\n") {
		if l, _, _ = strings.Cut(l, "#"); strings.TrimSpace(l) != "" && !strings.HasSuffix(strings.TrimSpace(l), "=> =") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	return out
}

func wantRules(t *testing.T, rules string, want ...string) {
	t.Helper()
	got := ruleLines(rules)
	if !slices.Equal(got, want) {
		t.Fatalf("rules %q, want %q\n%s", got, want, rules)
	}
}

// TestComposeLayoutsProduceConsume derives rules from compose files in the
// common layouts, starts an embedded cluster that advertises exactly what
// the file makes the brokers advertise to a host client and publishes them
// on the ports the file names (given through its variables), then produces
// and consumes through a strict dialer holding only the derived rules.
func TestComposeLayoutsProduceConsume(t *testing.T) {
	t.Run("apache/kafka three brokers", func(t *testing.T) {
		c := startCluster(t, kafkatest.WithTopic("t", 3))
		env := portsEnv(c, "KAFKA_%d_PORT")
		code, rules, _ := fromCompose(t, env, "testdata/compose/apache-three/compose.yaml")
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		wantRules(t, rules, derived(c)...)
		produceConsume(t, rules, c.Seed(), "t", 9)
	})
	t.Run("bitnami/kafka three brokers", func(t *testing.T) {
		c := startCluster(t, kafkatest.WithTopic("t", 3), kafkatest.WithAdvertise("kafka-{id}:9092"))
		code, rules, _ := fromCompose(t, portsEnv(c, "KAFKA_%d_PORT"), "testdata/compose/bitnami-three/compose.yaml")
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		wantRules(t, rules, derived(c)...)
		produceConsume(t, rules, c.Seed(), "t", 9)
	})
	t.Run("bitnami/kafka one broker, host listener on another host port", func(t *testing.T) {
		// EXTERNAL advertises localhost:9094 while the container port 9094
		// is published elsewhere: the rule sends localhost:9094 there.
		c := startCluster(t, kafkatest.WithTopic("t", 2), kafkatest.WithBrokers(1), kafkatest.WithAdvertise("localhost:9094"))
		_, pub, _ := net.SplitHostPort(c.Seed())
		code, rules, _ := fromCompose(t, map[string]string{"EXTERNAL_PORT": pub}, "testdata/compose/bitnami-single/compose.yaml")
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		wantRules(t, rules, "localhost:9094 => "+c.Seed())
		mustContain(t, "rules", rules, "# kafka:9092 is not reachable from the host: listener PLAINTEXT: container port 9092 is not published")
		produceConsume(t, rules, c.Seed(), "t", 6)
	})
	for _, tc := range []struct{ name, dir, portVar string }{
		{"apache/kafka one broker, two listeners", "apache-single", "KAFKA_HOST_PORT"},
		{"confluentinc/cp-kafka one broker, two listeners, no KAFKA_LISTENERS", "cp-single", "HOST_PORT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The host listener advertises localhost:P and is published on
			// P:P; the test holds P open and forwards it to the broker.
			ln := reserve(t)
			p := fmt.Sprint(port(ln))
			c := startCluster(t, kafkatest.WithTopic("t", 2), kafkatest.WithBrokers(1), kafkatest.WithAdvertise("localhost:"+p), kafkatest.WithPublish(""))
			publishOn(t, ln, c.Brokers[0].Listen)
			code, rules, _ := fromCompose(t, map[string]string{tc.portVar: p}, filepath.Join("testdata/compose", tc.dir, "compose.yaml"))
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			wantRules(t, rules, "localhost:"+p+" => 127.0.0.1:"+p)
			mustContain(t, "rules", rules, "is not reachable from the host: listener PLAINTEXT: container port 29092 is not published", "reachable as advertised")
			produceConsume(t, rules, "127.0.0.1:"+p, "t", 6)
		})
	}
	t.Run("confluentinc/cp-kafka three brokers, two listeners", func(t *testing.T) {
		// Each broker's host listener advertises localhost:P_N, published
		// on P_N:P_N: here each broker listens on P_N itself.
		next := 0
		listen := func(network, _ string) (net.Listener, error) {
			next++
			ln, err := net.Listen(network, "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			return kafkatest.AdvertiseAs(ln, fmt.Sprintf("localhost:%d", port(ln))), nil
		}
		c := startCluster(t, kafkatest.WithBrokers(3), kafkatest.WithTopic("t", 3), kafkatest.WithKfake(kfake.ListenFn(listen)))
		env := map[string]string{}
		var want []string
		for i, a := range c.Kfake().ListenAddrs() {
			_, p, _ := net.SplitHostPort(a)
			env[fmt.Sprintf("KAFKA_%d_PORT", i+1)] = p
			want = append(want, "localhost:"+p+" => 127.0.0.1:"+p)
		}
		code, rules, _ := fromCompose(t, env, "testdata/compose/cp-three/compose.yaml")
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		wantRules(t, rules, want...)
		produceConsume(t, rules, strings.Replace(strings.Split(want[0], " => ")[1], "localhost", "127.0.0.1", 1), "t", 9)
	})
	t.Run("variables from .env, override file and profiles", func(t *testing.T) {
		c := startCluster(t, kafkatest.WithTopic("t", 3), kafkatest.WithAdvertise("broker-{id}:29092"))
		dir := t.TempDir()
		for _, f := range []string{"compose.yaml", "compose.override.yaml", ".env"} {
			b, err := os.ReadFile(filepath.Join("testdata/compose/dotenv", f))
			if err != nil {
				t.Fatal(err)
			}
			if f == ".env" {
				for i, br := range c.Brokers {
					_, p, _ := net.SplitHostPort(br.Published)
					b = fmt.Appendf(b, "KAFKA_%d_PORT=%s\n", i+1, p)
				}
			}
			writeFile(t, dir, f, string(b))
		}
		// No file named: docker compose's discovery finds compose.yaml and
		// compose.override.yaml in the working directory, and .env beside them.
		t.Chdir(dir)
		code, rules, _ := fromCompose(t, nil)
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		wantRules(t, rules, derived(c)...)
		mustContain(t, "rules", rules, "apache/kafka:3.9.1", filepath.Join(dir, "compose.override.yaml"))
		if strings.Contains(rules, "kafka-ui") || strings.Contains(rules, "broker-4") {
			t.Errorf("kafka-ui (no broker) or kafka-extra (profile off) in the rules:\n%s", rules)
		}
		produceConsume(t, rules, c.Seed(), "t", 9)

		// The process environment wins over .env; --profile turns kafka-extra on.
		code, rules, _ = fromCompose(t, map[string]string{"KAFKA_1_PORT": "1"}, "--profile", "extra")
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		want := append(derived(c), "broker-4:29092 => 127.0.0.1:19094")
		want[0] = "broker-1:29092 => 127.0.0.1:1"
		wantRules(t, rules, want...)
		// COMPOSE_PROFILES does the same.
		_, rules, _ = fromCompose(t, map[string]string{"COMPOSE_PROFILES": "extra"})
		mustContain(t, "rules", rules, "broker-4:29092 => 127.0.0.1:19094")
	})
}

// portsEnv names each broker's published port in a variable.
func portsEnv(c *kafkatest.Cluster, pattern string) map[string]string {
	env := map[string]string{}
	for i, b := range c.Brokers {
		_, p, _ := net.SplitHostPort(b.Published)
		env[fmt.Sprintf(pattern, i+1)] = p
	}
	return env
}

// derived is the rules from-compose should write for c: advertised =>
// published, in broker order.
func derived(c *kafkatest.Cluster) []string {
	var out []string
	for _, b := range c.Brokers {
		out = append(out, b.Advertised+" => "+b.Published)
	}
	return out
}

// TestComposeExampleMatchesRulesFile: for examples/compose, the derived
// rules route every advertised address as the example's hand-written
// rules.txt does.
func TestComposeExampleMatchesRulesFile(t *testing.T) {
	code, rules, _ := fromCompose(t, nil, "../../examples/compose/compose.yaml")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	mine, err := dialer.New(dialer.WithRules(rules))
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := dialer.New(dialer.WithRulesFile("../../examples/compose/rules.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ruleLines(rules)); n != 3 {
		t.Fatalf("%d rules:\n%s", n, rules)
	}
	for i := 1; i <= 3; i++ {
		a := fmt.Sprintf("kafka-%d:29092", i)
		r1, _ := mine.Route(a)
		r2, _ := theirs.Route(a)
		if r1.Target != r2.Target || r1.Rule == "" {
			t.Errorf("%s: derived %+v, rules.txt %+v", a, r1, r2)
		}
	}
}

// TestComposeProblems: layouts from-compose cannot turn into rules are
// explained, each in the words of its case.
func TestComposeProblems(t *testing.T) {
	for _, tc := range []struct {
		name    string
		compose string
		code    int
		rules   []string
		want    []string // in stdout (comments) or stderr
		not     []string // in neither
	}{
		{
			name:    "random host port",
			compose: svc("k", "PLAINTEXT://k:9092", "", `ports: ["9092"]`),
			code:    1, want: []string{"# k:9092 is not reachable from the host: listener PLAINTEXT: container port 9092 is published on a random host port", "service k: the host reaches none of the addresses"},
		},
		{
			name:    "port range",
			compose: svc("k", "PLAINTEXT://k:9092", "", `ports: [{target: 9092, published: "9000-9010"}]`),
			code:    1, want: []string{"published on a port range (9000-9010)"},
		},
		{
			name:    "advertised port differs from the bind port",
			compose: svc("k", "EXTERNAL://kafka.example.invalid:19092", "EXTERNAL://:9092", `ports: ["127.0.0.1:29092:9092", "8080:8080"]`),
			code:    0, rules: []string{"kafka.example.invalid:19092 => 127.0.0.1:29092"},
			want: []string{"container port 9092 published as 127.0.0.1:29092 (it binds 9092, advertises 19092)"},
		},
		{
			name:    "published on one host address",
			compose: svc("k", "PLAINTEXT://k:9092", "", `ports: ["198.18.0.7:19092:9092"]`),
			code:    0, rules: []string{"k:9092 => 198.18.0.7:19092"},
		},
		{
			name:    "published on IPv6 only",
			compose: svc("k", "PLAINTEXT://k:9092", "", `ports: ["[::]:19092:9092"]`),
			code:    0, rules: []string{"k:9092 => [::1]:19092"},
		},
		{
			name:    "udp is not kafka",
			compose: svc("k", "PLAINTEXT://k:9092", "", `ports: ["19092:9092/udp"]`),
			code:    1, want: []string{"container port 9092 is not published"},
		},
		{
			name:    "advertised but not bound",
			compose: svc("k", "PLAINTEXT://k:9092,OTHER://k:9093", "PLAINTEXT://:9092", `ports: ["9092:9092", "9093:9093"]`, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT"),
			code:    0, rules: []string{"k:9092 => 127.0.0.1:9092"},
			want: []string{"# k:9093 is not reachable from the host: listener OTHER is advertised but not in KAFKA_LISTENERS"},
		},
		{
			name:    "listener without protocol, no map set: assumed",
			compose: svc("k", "EXTERNAL://k:9092", "", `ports: ["9092:9092"]`),
			code:    0, rules: []string{"k:9092 => 127.0.0.1:9092"},
			want: []string{"# assumed: KAFKA_LISTENER_SECURITY_PROTOCOL_MAP is not set here: listener EXTERNAL is taken as PLAINTEXT"},
			not:  []string{"PROBLEM"},
		},
		{
			name:    "listener missing from the map set",
			compose: svc("k", "EXTERNAL://k:9092", "", `ports: ["9092:9092"]`, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: PLAINTEXT:PLAINTEXT"),
			code:    0, rules: []string{"k:9092 => 127.0.0.1:9092"},
			want: []string{"# PROBLEM: listener EXTERNAL has no security protocol in KAFKA_LISTENER_SECURITY_PROTOCOL_MAP (Kafka refuses to start)"},
		},
		{
			name:    "TLS and SASL listeners",
			compose: svc("k", "SSL://kafka-1.example.invalid:9093,SASL_SSL://kafka-1.example.invalid:9094", "", `ports: ["9093:9093", "9094:9094"]`),
			code:    0, rules: []string{"kafka-1.example.invalid:9093 => 127.0.0.1:9093", "kafka-1.example.invalid:9094 => 127.0.0.1:9094"},
			want: []string{"TLS verifies kafka-1.example.invalid (the advertised name, which the rule keeps)", "clients authenticate with SASL"},
		},
		{
			name:    "no advertised host: any host on its port",
			compose: svc("k", "PLAINTEXT://:9092", "", `ports: ["9092:9092"]`),
			code:    0, rules: []string{"*:9092 => 127.0.0.1:9092"},
			want: []string{"listener PLAINTEXT advertises <container hostname>:9092: the host is the container's hostname, which is its container id unless the service sets hostname:",
				"port 9092 is this listener's alone here, container port 9092 published as 127.0.0.1:9092",
				"with hostname: k on service k the broker would advertise k:9092 and the rule k:9092 => 127.0.0.1:9092 could be exact"},
			not: []string{"# :9092"},
		},
		{
			name:    "no advertised host, port shared with another listener",
			compose: svc("k", "PLAINTEXT://:9092", "", `ports: ["9092:9092"]`) + svcBody("j", "PLAINTEXT://j:9092", "", `ports: ["19092:9092"]`),
			code:    1, rules: []string{"j:9092 => 127.0.0.1:19092"},
			want: []string{"a rule for port 9092 alone would also take j:9092, which service j advertises"},
		},
		{
			name:    "no advertised host, hostname set",
			compose: svc("k", "PLAINTEXT://:9092", "", `ports: ["9092:9092"]`, "", "hostname: kafka-1"),
			code:    0, rules: []string{"kafka-1:9092 => 127.0.0.1:9092"},
			want: []string{"the broker advertises its hostname, kafka-1 (hostname:)"},
		},
		{
			name:    "advertises 0.0.0.0",
			compose: svc("k", "PLAINTEXT://0.0.0.0:9092", "", `ports: ["9092:9092"]`),
			code:    1, want: []string{"listener PLAINTEXT advertises 0.0.0.0, the non-routable meta-address"},
		},
		{
			name:    "advertised listeners unset: listeners advertised",
			compose: svc("k", "", "PLAINTEXT://kafka-9:9092", `ports: ["19092:9092"]`),
			code:    0, rules: []string{"kafka-9:9092 => 127.0.0.1:19092"},
		},
		{
			name:    "network_mode host",
			compose: svc("k", "PLAINTEXT://myhost.invalid:9092", "", `network_mode: host`),
			code:    0, rules: []string{"myhost.invalid:9092 => 127.0.0.1:9092"},
			want: []string{"network_mode host: port 9092 is on the host"},
		},
		{
			name:    "network of another service",
			compose: svc("k", "PLAINTEXT://k:9092", "", `network_mode: "service:net"`) + "  net:\n    image: busybox\n    ports: [\"19092:9092\"]\n",
			code:    0, rules: []string{"k:9092 => 127.0.0.1:19092"},
		},
		{
			name:    "two services advertise one address",
			compose: svc("a", "PLAINTEXT://kafka:9092", "", `ports: ["19092:9092"]`) + svcBody("b", "PLAINTEXT://kafka:9092", "", `ports: ["29092:9092"]`),
			code:    1, rules: []string{"kafka:9092 => 127.0.0.1:19092"},
			want: []string{"kafka:9092 is advertised by service a too"},
		},
		{
			name:    "bad listener",
			compose: svc("k", "PLAINTEXT:/k:9092", "", `ports: ["9092:9092"]`),
			code:    1, want: []string{`KAFKA_ADVERTISED_LISTENERS: "PLAINTEXT:/k:9092" is not NAME://host:port`},
		},
		{
			name:    "bad protocol map",
			compose: svc("k", "PLAINTEXT://k:9092", "", `ports: ["9092:9092"]`, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: PLAINTEXT:TLS"),
			code:    1, want: []string{`unknown security protocol "TLS" for listener PLAINTEXT`},
		},
		{
			name:    "address no rule can name",
			compose: svc("k", "PLAINTEXT://bad#host:9092", "", `ports: ["9092:9092"]`),
			code:    1, want: []string{`# bad#host:9092 is not reachable from the host: listener PLAINTEXT advertises bad#host:9092: host "bad#host" holds '#', which no rule can name`},
		},
		{
			name:    "scaled",
			compose: svc("k", "PLAINTEXT://k:9092", "", `ports: ["9092:9092"]`, "", "scale: 2"),
			code:    0, rules: []string{"k:9092 => 127.0.0.1:9092"}, want: []string{"scale 2: every replica advertises the same addresses"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := writeFile(t, dir, "compose.yaml", tc.compose)
			code, stdout, stderr := fromCompose(t, nil, f)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s\n%s", code, tc.code, stdout, stderr)
			}
			if got := ruleLines(stdout); !slices.Equal(got, tc.rules) {
				t.Errorf("rules %q, want %q\n%s", got, tc.rules, stdout)
			}
			mustContain(t, "output", stdout+stderr, tc.want...)
			mustNotContain(t, "output", stdout+stderr, tc.not...)
		})
	}
}

// svc and svcBody write compose files with one Kafka service (package
// internal/composetest, shared with the other module's tests).
var svc, svcBody = composetest.Service, composetest.ServiceBody

func TestComposeErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, compose string
		code          int
		stderr        string
	}{
		{"malformed yaml", "services:\n  kafka:\n    image: [\n", 2, "compose.yaml"},
		{"not a compose file", "services: 3\n", 2, "services must be a mapping"},
		{"unset required variable", "services:\n  k:\n    image: x\n    environment:\n      KAFKA_LISTENERS: ${NOPE?must be set}\n", 2, "must be set"},
		{"no kafka", "services:\n  web:\n    image: nginx\n    ports: [\"8080:80\"]\n", 1, "no Kafka service in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, dir, tc.name+"/compose.yaml", tc.compose)
			code, stdout, stderr := runWith(t, envCLI(nil), "rules", "from-compose", f)
			if code != tc.code || stdout != "" || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d stdout %q stderr %q; want %d, nothing, %q", code, stdout, stderr, tc.code, tc.stderr)
			}
		})
	}
	// No file here or above: a clear error.
	t.Chdir(t.TempDir())
	code, _, stderr := runWith(t, envCLI(nil), "rules", "from-compose")
	if code != 2 || !strings.Contains(stderr, "no compose file") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runWith(t, envCLI(nil), "rules", "from-compose", "--host", "1.2.3.4:5", "x.yaml")
	if code != 2 || !strings.Contains(stderr, "--host") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestComposeJSONControllers(t *testing.T) {
	env := map[string]string{"BROKER_1_PORT": "19091", "BROKER_2_PORT": "19092", "BROKER_3_PORT": "19093"}
	code, stdout, _ := runWith(t, envCLI(env), "rules", "from-compose", "--json", composeFile("kraft-isolated"))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var res composeResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	roles := map[string]int{}
	for _, s := range res.Services {
		roles[s.Role]++
		if s.Role == "controller" && (len(s.Listeners) != 0 || s.Roles != "KAFKA_PROCESS_ROLES=controller") {
			t.Errorf("controller %+v", s)
		}
	}
	if roles["controller"] != 3 || roles["broker"] != 3 || !res.OK || len(res.Rules) != 3 {
		t.Errorf("%+v", res)
	}
}

func TestComposeJSON(t *testing.T) {
	code, stdout, _ := runWith(t, envCLI(map[string]string{"KAFKA_HOST_PORT": "19092"}), "rules", "from-compose", "--json", "testdata/compose/apache-single/compose.yaml")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var res composeResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Services) != 1 || !res.OK || !slices.Equal(res.Rules, []string{"localhost:19092 => 127.0.0.1:19092"}) || !slices.Equal(res.Bootstrap, []string{"127.0.0.1:19092"}) {
		t.Fatalf("%+v", res)
	}
	if s := res.Services[0]; s.Kind != "Kafka" || s.Role != "broker" || s.Roles != "broker,controller" {
		t.Errorf("service %+v", s)
	}
	ls := res.Services[0].Listeners
	if len(ls) != 2 || ls[0].Name != "PLAINTEXT" || ls[0].Reachable || ls[0].ContainerPort != 29092 ||
		ls[1].Name != "PLAINTEXT_HOST" || !ls[1].Reachable || ls[1].ContainerPort != 19092 || ls[1].Protocol != "PLAINTEXT" {
		t.Errorf("listeners %+v", ls)
	}
}
