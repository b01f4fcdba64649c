package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/adapters/kafkagodial"
	"github.com/kafkadial/kafkadial/adapters/saramadial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/dockertest"
	"github.com/kafkadial/kafkadial/internal/testenv"
)

// composeFile is three brokers as docker-compose brings them up: one
// kfake cluster in kfake-core, and kafka-N forwarding its :29092 to broker
// N, with the environment a Kafka image takes and a published port each.
const composeFile = `services:
  kfake-core:
    image: ${IMAGE}
    command: ["-brokers", "3", "-listen", ":2909{id}", "-advertise", "kafka-{id}:29092", "-topic", "events:6", "-spread-leaders"]
    labels: {kafkadial.test: "${RUN}"}
  kafka-1:
    image: ${IMAGE}
    command: ["-brokers", "0", "-forward", ":29092=kfake-core:29091"]
    environment:
      KAFKA_ADVERTISED_LISTENERS: PLAINTEXT://kafka-1:29092
      KAFKA_LISTENERS: PLAINTEXT://:29092
    ports: ["127.0.0.1:${P1}:29092"]
    labels: {kafkadial.test: "${RUN}"}
  kafka-2:
    image: ${IMAGE}
    command: ["-brokers", "0", "-forward", ":29092=kfake-core:29092"]
    environment:
      KAFKA_ADVERTISED_LISTENERS: PLAINTEXT://kafka-2:29092
      KAFKA_LISTENERS: PLAINTEXT://:29092
    ports: ["127.0.0.1:${P2}:29092"]
    labels: {kafkadial.test: "${RUN}"}
  kafka-3:
    image: ${IMAGE}
    command: ["-brokers", "0", "-forward", ":29092=kfake-core:29093"]
    environment:
      KAFKA_ADVERTISED_LISTENERS: PLAINTEXT://kafka-3:29092
      KAFKA_LISTENERS: PLAINTEXT://:29092
    ports: ["127.0.0.1:${P3}:29092"]
    labels: {kafkadial.test: "${RUN}"}
networks:
  default:
    labels: {kafkadial.test: "${RUN}"}
`

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// docker-compose (Debian's Compose v1) brings the brokers up: rules
// from-compose (from the file) and rules from-docker (from the engine)
// derive the same rules, the clients produce and consume through each,
// and probe --docker finds every broker with no rules at all.
func TestDockerCompose(t *testing.T) {
	e := dockertest.Need(t)
	testenv.Need(t, "docker-compose")
	img := e.Image(kfakeImage)
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(composeFile), 0o644); err != nil {
		t.Fatal(err)
	}
	ports := []int{freePort(t), freePort(t), freePort(t)}
	env := append(os.Environ(), "IMAGE="+img, "RUN="+e.Run,
		fmt.Sprintf("P1=%d", ports[0]), fmt.Sprintf("P2=%d", ports[1]), fmt.Sprintf("P3=%d", ports[2]))
	project := e.Run
	compose := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "docker-compose", append([]string{"-f", file, "-p", project}, args...)...)
		cmd.Env, cmd.Dir = env, dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		if out, err := compose("down", "-v", "-t", "1"); err != nil {
			t.Errorf("docker-compose down: %v\n%s", err, out)
		}
	})
	start := time.Now()
	if out, err := compose("up", "-d"); err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}
	for _, s := range []string{"kfake-core", "kafka-1", "kafka-2", "kafka-3"} {
		e.WaitLog(fmt.Sprintf("%s_%s_1", project, s), "ready", 30*time.Second)
	}
	t.Logf("docker-compose up took %s", time.Since(start).Round(time.Millisecond))
	bin := buildKafkadial(t, dir)
	kafkadial := func(args ...string) (code int, stdout, stderr string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env, cmd.Dir = env, dir
		var o, se strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &se
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, o.String(), se.String()
	}

	code, fromCompose, stderr := kafkadial("rules", "from-compose", "-f", file)
	if code != 0 {
		t.Fatalf("from-compose: exit %d\n%s\n%s", code, fromCompose, stderr)
	}
	code, fromDocker, stderr := kafkadial("rules", "from-docker", "--docker-host", e.Host, "-p", project)
	if code != 0 {
		t.Fatalf("from-docker: exit %d\n%s\n%s", code, fromDocker, stderr)
	}
	var want []string
	for i, p := range ports {
		want = append(want, fmt.Sprintf("kafka-%d:29092 => 127.0.0.1:%d", i+1, p))
	}
	for _, tc := range []struct{ name, rules string }{{"from-compose", fromCompose}, {"from-docker", fromDocker}} {
		if got := derived(tc.rules); !slices.Equal(got, want) {
			t.Fatalf("%s derived %q, want %q (the ports the engine published)\n%s", tc.name, got, want, tc.rules)
		}
	}
	for i := range ports {
		if got := e.Published(fmt.Sprintf("%s_kafka-%d_1", project, i+1), 29092); got != fmt.Sprintf("127.0.0.1:%d", ports[i]) {
			t.Fatalf("the engine published kafka-%d on %s, the file says %d", i+1, got, ports[i])
		}
	}
	t.Logf("from-docker:\n%s", fromDocker)

	seed := fmt.Sprintf("127.0.0.1:%d", ports[0])
	for _, tc := range []struct{ name, rules string }{{"from-compose", fromCompose}, {"from-docker", fromDocker}} {
		d, err := dialer.New(dialer.WithStrict(), dialer.WithNamedRules(tc.name, tc.rules), dialer.WithTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		t.Run(tc.name+"/sarama", func(t *testing.T) {
			cfg := saramaConfig()
			saramadial.Configure(cfg, d)
			testSarama(t, seed, cfg, "compose-sarama-"+tc.name, dnsRecords)
		})
		t.Run(tc.name+"/franz-go", func(t *testing.T) { testFranz(t, seed, "compose-franz-"+tc.name, dnsRecords, franzdial.Opt(d)) })
		t.Run(tc.name+"/kafka-go", func(t *testing.T) {
			testKafkaGo(t, seed, "compose-kafkago-"+tc.name, dnsRecords, kafkagodial.Transport(d), kafkagodial.Dialer(d))
		})
	}

	t.Run("probe --docker", func(t *testing.T) {
		code, stdout, stderr := kafkadial("probe", "--no-env", "--strict", "--docker-host", e.Host, "--bootstrap", "kafka-1:29092", "--json", "-q")
		var res struct {
			Brokers []struct {
				Advertised string `json:"advertised"`
				Rule       string `json:"rule"`
				Target     string `json:"target"`
				OK         bool   `json:"ok"`
			} `json:"brokers"`
			OK bool `json:"ok"`
		}
		if err := json.Unmarshal([]byte(stdout), &res); err != nil || code != 0 || !res.OK || len(res.Brokers) != 3 {
			t.Fatalf("probe --docker: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
		}
		for i, b := range res.Brokers {
			name := fmt.Sprintf("%s_kafka-%d_1", project, i+1)
			if b.Advertised != fmt.Sprintf("kafka-%d:29092", i+1) || b.Target != fmt.Sprintf("127.0.0.1:%d", ports[i]) ||
				!strings.HasPrefix(b.Rule, "docker container "+name+" (") || !b.OK {
				t.Fatalf("broker %d: %+v; want %s at 127.0.0.1:%d by docker container %s", i, b, b.Advertised, ports[i], name)
			}
		}
		code, stdout, _ = kafkadial("probe", "--no-env", "--docker-host", e.Host, "--bootstrap", "kafka-1:29092", "-q")
		if code != 0 || !strings.Contains(stdout, "docker container "+project+"_kafka-3_1") {
			t.Fatalf("probe --docker table: exit %d\n%s", code, stdout)
		}
		t.Logf("probe --docker:\n%s", stdout)
	})
}

// derived lists a rules file's rules, without those that keep published
// addresses as they are.
func derived(rules string) []string {
	var out []string
	for _, l := range strings.Split(rules, "\n") {
		if l, _, _ = strings.Cut(l, "#"); strings.TrimSpace(l) != "" && !strings.HasSuffix(strings.TrimSpace(l), "=> =") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	return out
}
