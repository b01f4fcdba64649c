package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/internal/testenv"
	"github.com/kafkadial/kafkadial/internal/testpeers"
	"github.com/kafkadial/kafkadial/kafkatest"
	"github.com/segmentio/kafka-go"
)

// proxyRecords is what each non-Go client produces and consumes.
const proxyRecords = 2000

// TestProxyClients runs clients that cannot load the dialer (kcat, Python's
// confluent-kafka and kafka-python, kafkajs) and the Go clients with no
// kafkadial code in them (sarama, franz-go, kafka-go) through `kafkadial
// proxy`, in front of kfake brokers that advertise names the host cannot
// resolve, all on port 9092 as in Kubernetes, reachable only through the
// proxy's rules. Each lists the brokers (every one at the proxy's listener
// for it), produces, and consumes in a consumer group. Then a real SIGHUP
// with a broken rules file keeps the rules in force, and SIGTERM ends the
// proxy with exit 0.
func TestProxyClients(t *testing.T) {
	c, err := kafkatest.Start(kafkatest.WithAdvertise("kafka-{id}.proxy.invalid:9092"), kafkatest.WithTopic(topic, partitions))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	dir := t.TempDir()
	rules := filepath.Join(dir, "kafka.rules")
	writeFile(t, rules, c.Rules())
	bin := buildKafkadial(t, dir)
	port := testpeers.FreePortRun(t, 3)
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p := startProxyProc(t, bin, nil, 3, "--bootstrap", "kafka-1.proxy.invalid:9092", "--listen", listen, "--strict", "--no-env", "--rules", rules)
	p.wantPorts(t, port)
	if p.Local != listen {
		t.Fatalf("bootstrap listener %s, want %s", p.Local, listen)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	noLeak := func(t *testing.T, client, out string) {
		t.Helper()
		if strings.Contains(out, "proxy.invalid") || strings.Contains(out, c.Brokers[0].Published) {
			t.Errorf("%s saw an upstream address:\n%s", client, out)
		}
	}

	t.Run("kcat", func(t *testing.T) {
		testenv.Need(t, "kcat")
		kcatThroughProxy(t, ctx, p, "proxy-kcat", proxyRecords, noLeak)
	})
	script := func(t *testing.T, name string, args ...string) {
		t.Helper()
		out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s through the proxy: %v\n%s", name, err, out)
		}
		p.wantBrokers(t, name, string(out))
		for _, want := range []string{fmt.Sprintf("produced %d", proxyRecords), fmt.Sprintf("consumed %d", proxyRecords)} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s printed no %q:\n%s", name, want, out)
			}
		}
		noLeak(t, name, string(out))
	}
	py := func(lib, prefix string) []string {
		return []string{"/usr/bin/python3", clientsDir + "/pyclient.py", "--lib", lib, "--bootstrap", p.Local, "--topic", topic,
			"--count", strconv.Itoa(proxyRecords), "--group", "g-" + prefix, "--prefix", prefix, "--timeout", "90"}
	}
	t.Run("confluent-kafka", func(t *testing.T) {
		needPython(t, "confluent_kafka", "python3-confluent-kafka")
		script(t, "confluent-kafka", py("confluent", "proxy-confluent")...)
	})
	t.Run("kafka-python", func(t *testing.T) {
		needPython(t, "kafka", "python3-kafka")
		script(t, "kafka-python", py("kafka-python", "proxy-kafkapython")...)
	})
	t.Run("kafkajs", func(t *testing.T) {
		needKafkajs(t)
		script(t, "kafkajs", "node", clientsDir+"/jsclient.mjs", "--bootstrap", p.Local, "--topic", topic,
			"--count", strconv.Itoa(proxyRecords), "--group", "g-proxy-kafkajs", "--prefix", "proxy-kafkajs", "--timeout", "90")
	})
	t.Run("sarama", func(t *testing.T) {
		testSarama(t, p.Local, saramaConfig(), "proxy-sarama", records)
	})
	t.Run("franz", func(t *testing.T) {
		testFranz(t, p.Local, "proxy-franz", records)
	})
	t.Run("kafkago", func(t *testing.T) {
		testKafkaGo(t, p.Local, "proxy-kafkago", records, &kafka.Transport{}, &kafka.Dialer{Timeout: 10 * time.Second})
	})

	// A broken rules file: the error with its position, the rules in
	// force stay (a new client still gets through), then SIGTERM.
	writeFile(t, rules, "kafka-1.proxy.invalid:9092 => 127.0.0.1:1\nkafka-2.proxy.invalid:9092 => => x\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 30*time.Second, func() bool { return strings.Contains(p.err.String(), "reload failed") }, "reload failed in the proxy's log")
	if !strings.Contains(p.err.String(), rules+":2:") {
		t.Errorf("the reload error does not name %s:2:COL:\n%s", rules, p.err.String())
	}
	testFranz(t, p.Local, "proxy-after-hup", 100)
	p.stop(t)
}

// kcatThroughProxy lists the metadata, produces n records and consumes them
// in a consumer group (kcat -G), all through the proxy.
func kcatThroughProxy(t *testing.T, ctx context.Context, p *proxyProc, prefix string, n int, noLeak func(*testing.T, string, string)) {
	t.Helper()
	meta, err := exec.CommandContext(ctx, "kcat", "-L", "-J", "-b", p.Local).Output()
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, meta)
	}
	var md struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
	}
	if err := json.Unmarshal(meta, &md); err != nil {
		t.Fatalf("kcat -L -J: %v\n%s", err, meta)
	}
	var listed strings.Builder
	for _, b := range md.Brokers {
		fmt.Fprintf(&listed, "broker %d %s\n", b.ID, b.Name)
	}
	p.wantBrokers(t, "kcat", listed.String())
	noLeak(t, "kcat -L", string(meta))

	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "%s-%d\n", prefix, i)
	}
	produce := exec.CommandContext(ctx, "kcat", "-P", "-b", p.Local, "-t", topic, "-X", "acks=all")
	produce.Stdin = strings.NewReader(in.String())
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P through the proxy: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, "kcat", "-b", p.Local, "-G", "g-"+prefix, "-o", "beginning", "-e", "-q", "-f", "%s\n", topic).Output()
	if err != nil {
		t.Fatalf("kcat -G through the proxy: %v\n%s", err, out)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, prefix+"-") {
			seen[l] = true
		}
	}
	for i := range n {
		if !seen[fmt.Sprintf("%s-%d", prefix, i)] {
			t.Fatalf("kcat -G consumed %d of %d records through the proxy; %s-%d missing", len(seen), n, prefix, i)
		}
	}
}

// waitFor polls cond every 20 ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
