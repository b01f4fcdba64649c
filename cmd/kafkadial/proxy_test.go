package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/internal/testpeers"
	"github.com/kafkadial/kafkadial/kafkatest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// proxyCluster starts three kfake brokers that advertise names the host
// cannot resolve, all on port 9092 as in Kubernetes, each published on a
// loopback port of its own: only rules reach them.
func proxyCluster(t *testing.T) *kafkatest.Cluster {
	t.Helper()
	return startCluster(t, kafkatest.WithAdvertise("kafka-{id}.proxy.invalid:9092"), kafkatest.WithTopic("events", 6))
}

// proxyRun is `kafkadial proxy` running in process, as main runs it: the
// test's SIGINT/SIGTERM is cancelling its context, its SIGHUP a send on
// hup.
type proxyRun struct {
	out, err testpeers.SyncBuffer
	hup      chan os.Signal
	cancel   context.CancelFunc
	code     chan int
}

func startProxy(t *testing.T, env map[string]string, args ...string) *proxyRun {
	t.Helper()
	r := &proxyRun{hup: make(chan os.Signal, 1), code: make(chan int, 1)}
	c := envCLI(env)
	c.stdout, c.stderr, c.sighup = &r.out, &r.err, r.hup
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.code <- c.run(ctx, append([]string{"proxy"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.code:
		case <-time.After(30 * time.Second):
			t.Errorf("kafkadial proxy did not stop within 30s of its context's end")
		}
	})
	return r
}

// waitOut waits until stdout matches re, and returns the match.
func (r *proxyRun) waitOut(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(r.out.String()); m != nil {
			return m
		}
		select {
		case code := <-r.code:
			r.code <- code
			t.Fatalf("kafkadial proxy exited %d before printing %q\nstdout:\n%s\nstderr:\n%s", code, re, r.out.String(), r.err.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("kafkadial proxy printed no %q in 30s\nstdout:\n%s\nstderr:\n%s", re, r.out.String(), r.err.String())
		}
	}
}

// waitErr waits until stderr holds s.
func (r *proxyRun) waitErr(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(r.err.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("kafkadial proxy logged no %q in 30s\nstderr:\n%s", s, r.err.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop cancels the context (SIGINT/SIGTERM) and returns the exit code.
func (r *proxyRun) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.code:
		r.code <- code
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("kafkadial proxy did not stop within 30s\nstderr:\n%s", r.err.String())
		return -1
	}
}

// exited returns the exit code once the command returned on its own.
func (r *proxyRun) exited(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.code:
		r.code <- code
		return code
	case <-time.After(60 * time.Second):
		t.Fatalf("kafkadial proxy still runs after 60s\nstdout:\n%s\nstderr:\n%s", r.out.String(), r.err.String())
		return -1
	}
}

// listenerLines returns the regexp of the lines the proxy prints for c's
// three brokers at ports base, base+1, base+2, each routed to target(i).
func listenerLines(bootLocal string, base int, rulesFile string, target func(i int) string) *regexp.Regexp {
	var b strings.Builder
	fmt.Fprintf(&b, `(?m)^bootstrap on %s for kafka-1\.proxy\.invalid:9092 => %s \(rule %s:\d+\)\n`,
		regexp.QuoteMeta(bootLocal), regexp.QuoteMeta(target(0)), regexp.QuoteMeta(rulesFile))
	for i := range 3 {
		fmt.Fprintf(&b, `node %d on 127\.0\.0\.1:%d for kafka-%d\.proxy\.invalid:9092 => %s \(rule %s:\d+\)\n`,
			i, base+i, i+1, regexp.QuoteMeta(target(i)), regexp.QuoteMeta(rulesFile))
	}
	return regexp.MustCompile(b.String())
}

// plainRoundTrip produces n records to topic through seed with a franz-go
// client that has no kafkadial code (its own dialer), then consumes them
// back in consumer group group.
func plainRoundTrip(t *testing.T, seed, topic, group, prefix string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pr, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = kgo.StringRecord(fmt.Sprintf("%s-%d", prefix, i))
	}
	if err := pr.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce through the proxy at %s: %v", seed, err)
	}
	co, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	got := map[string]bool{}
	for len(got) < n {
		fs := co.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records through the proxy at %s: %v", len(got), n, seed, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("consume %s/%d through the proxy: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if strings.HasPrefix(string(r.Value), prefix+"-") {
				got[string(r.Value)] = true
			}
		})
	}
}

func TestProxyHelp(t *testing.T) {
	code, out, errs := runCLI(t, "proxy", "--help")
	if code != exitOK || errs != "" {
		t.Fatalf("proxy --help: exit %d, stderr %q", code, errs)
	}
	mustContain(t, "proxy --help", out,
		"Usage: kafkadial proxy --bootstrap ADDR",
		"port BASE+N", "default 127.0.0.1:9092", "node 0 on 9093", "same port after a restart",
		"SIGHUP rereads the rules files", "FILE:LINE:COL", "SIGINT and SIGTERM", "exits 0",
		"Metadata", "FindCoordinator", "DescribeCluster", "NodeEndpoints", "ApiVersions",
		"node 0 on 127.0.0.1:9093 for kafka-0.kafka:9092 => ",
	)
	for _, flag := range []string{"bootstrap", "listen", "port-base", "rules", "zone", "no-env", "strict", "docker",
		"docker-host", "tls", "cafile", "tls-server-name", "listen-cert", "listen-key", "max-frame", "timeout", "v"} {
		if !regexp.MustCompile(`\n  -` + flag + `[ \t\n]`).MatchString(out) {
			t.Errorf("proxy --help does not document -%s", flag)
		}
	}
	_, top, _ := runCLI(t, "--help")
	mustContain(t, "kafkadial --help", top, "kafkadial proxy --bootstrap ADDR")
}

func TestProxyUsageErrors(t *testing.T) {
	dir := t.TempDir()
	broken := writeFile(t, dir, "broken.rules", "kafka-1:9092 => 127.0.0.1:1\nkafka-2:9092 => => 127.0.0.1:2\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--bootstrap is required"},
		{[]string{"--bootstrap", "a:1", "extra"}, `unexpected argument "extra"`},
		{[]string{"--bootstrap", "a:1", "--listen-cert", "c.pem"}, "--listen-cert and --listen-key go together"},
		{[]string{"--bootstrap", "a:1", "--listen-cert", dir + "/none.pem", "--listen-key", dir + "/none.key"}, "--listen-cert/--listen-key"},
		{[]string{"--bootstrap", "a:1", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"--bootstrap", "a:1", "--max-frame", "-1"}, "positive size"},
		{[]string{"--bootstrap", "a:1", "--max-frame", "3GiB"}, "below 2GiB"},
		{[]string{"--bootstrap", "a:1", "--listen", "127.0.0.1"}, "--listen"},
		{[]string{"--bootstrap", "a:1", "--port-base", "70000"}, "--port-base"},
		{[]string{"--bootstrap", "a:1", "--cafile", dir + "/none.pem"}, "--cafile"},
		{[]string{"--bootstrap", "a:1", "--rules", broken}, broken + ":2:"},
	} {
		code, out, errs := runWith(t, envCLI(nil), append([]string{"proxy"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("proxy %s: exit %d, want %d with %q on stderr:\n%s", strings.Join(tc.args, " "), code, exitUsage, tc.want, errs)
		}
		if out != "" {
			t.Errorf("proxy %s printed on stdout: %q", strings.Join(tc.args, " "), out)
		}
	}
}

func TestProxyMaxFrameFlag(t *testing.T) {
	for in, want := range map[string]int{"1048576": 1 << 20, "512KiB": 512 << 10, "100MiB": 100 << 20, "1GiB": 1 << 30, "9B": 9} {
		var b byteSize
		if err := b.Set(in); err != nil || int(b) != want {
			t.Errorf("--max-frame %s = %d, %v; want %d", in, int(b), err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5MiB", "0", "-3", "2GiB", "1TiB", "12 MiB"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("--max-frame %q accepted as %d", in, int(b))
		}
	}
	b := byteSize(100 << 20)
	if b.String() != "100MiB" {
		t.Errorf("default shown as %s", b.String())
	}
}

// The proxy in front of brokers reachable only by rules: it prints its
// listeners at the documented ports with their routes, a franz-go client
// with no kafkadial code produces and consumes through it, and probe
// through it sees every broker at its local address. Cancelling the
// context (SIGINT/SIGTERM) ends it with exit 0.
func TestProxyServes(t *testing.T) {
	c := proxyCluster(t)
	dir := t.TempDir()
	rules := writeFile(t, dir, "k8s.rules", c.Rules())
	p := testpeers.FreePortRun(t, 3)
	local := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	r := startProxy(t, nil, "--bootstrap", "kafka-1.proxy.invalid:9092", "--listen", local, "--strict", "--rules", rules, "--timeout", "10s")
	r.waitOut(t, listenerLines(local, p+1, rules, func(i int) string { return c.Brokers[i].Published }))
	r.waitErr(t, "serving")

	plainRoundTrip(t, local, "events", "g-franz", "franz", 500)

	code, out, errs := runWith(t, envCLI(nil), "probe", "--no-env", "-q", "--bootstrap", local)
	if code != exitOK {
		t.Fatalf("probe through the proxy: exit %d\n%s\n%s", code, out, errs)
	}
	for i := range 3 {
		row := regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s+127\.0\.0\.1:%d\s`, i, p+1+i))
		if !row.MatchString(out) {
			t.Errorf("probe through the proxy does not show node %d at 127.0.0.1:%d:\n%s", i, p+1+i, out)
		}
	}
	mustContain(t, "probe through the proxy", out, "all 3 brokers answer")
	mustNotContain(t, "probe through the proxy", out, "proxy.invalid")

	if code := r.stop(t); code != exitOK {
		t.Fatalf("proxy after its context ended: exit %d\n%s", code, r.err.String())
	}
	mustContain(t, "proxy's log", r.err.String(), "stopped")
	if conn, err := net.DialTimeout("tcp", local, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts after the proxy stopped", local)
	}
}

// rawAPIVersions sends an ApiVersions v0 request with correlation id corr on
// conn and reads the answer's correlation id back.
func rawAPIVersions(t *testing.T, conn net.Conn, corr int32) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetDeadline(time.Time{})
	req := binary.BigEndian.AppendUint32(nil, 10) // size
	req = binary.BigEndian.AppendUint16(req, 18)  // ApiVersions
	req = binary.BigEndian.AppendUint16(req, 0)   // v0
	req = binary.BigEndian.AppendUint32(req, uint32(corr))
	req = binary.BigEndian.AppendUint16(req, 0xffff) // null client id
	if _, err := conn.Write(req); err != nil {
		t.Fatalf("ApiVersions on an open connection: %v", err)
	}
	var hdr [8]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		t.Fatalf("ApiVersions on an open connection: %v", err)
	}
	if got := int32(binary.BigEndian.Uint32(hdr[4:])); got != corr {
		t.Fatalf("ApiVersions answered correlation id %d, want %d", got, corr)
	}
	if _, err := io.CopyN(io.Discard, conn, int64(binary.BigEndian.Uint32(hdr[:4]))-4); err != nil {
		t.Fatalf("ApiVersions body: %v", err)
	}
}

// SIGHUP with a new rules file: new connections follow it (the first
// publishing forwarders are closed afterwards, and clients still get
// through, by the second), a connection opened before it stays open, the
// listener lines are printed again with the new routes. SIGHUP with a
// broken file: the error with file:line:col, and the rules in force stay.
func TestProxyReload(t *testing.T) {
	c := proxyCluster(t)
	second := make([]string, len(c.Brokers))
	var rules2 strings.Builder
	for i, b := range c.Brokers {
		f, err := kafkatest.Forward("127.0.0.1:0", b.Listen)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		second[i] = f.Addr()
		fmt.Fprintf(&rules2, "# second publication\n%s => %s\n", b.Advertised, f.Addr())
	}
	dir := t.TempDir()
	rules := writeFile(t, dir, "k8s.rules", c.Rules())
	p := testpeers.FreePortRun(t, 3)
	local := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	r := startProxy(t, map[string]string{"KAFKADIAL_RULES": "# nothing"}, "--bootstrap", "kafka-1.proxy.invalid:9092", "--listen", local, "--strict", "--rules", rules)
	r.waitOut(t, listenerLines(local, p+1, rules, func(i int) string { return c.Brokers[i].Published }))
	plainRoundTrip(t, local, "events", "g-before", "before", 100)

	// A connection to node 1 opened under the first rules.
	open, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+2)))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	rawAPIVersions(t, open, 1)

	writeFile(t, dir, "k8s.rules", rules2.String())
	r.hup <- syscall.SIGHUP
	r.waitErr(t, "rules reloaded")
	r.waitOut(t, listenerLines(local, p+1, rules, func(i int) string { return second[i] }))
	rawAPIVersions(t, open, 2) // the open connection goes on

	for i := range c.Brokers {
		c.Forwarder(i).Close() // the first rules now lead nowhere
	}
	plainRoundTrip(t, local, "events", "g-after", "after", 100)

	writeFile(t, dir, "k8s.rules", "kafka-1.proxy.invalid:9092 => 127.0.0.1:1\nkafka-2.proxy.invalid:9092 => => 127.0.0.1:2\n")
	r.hup <- syscall.SIGHUP
	r.waitErr(t, "reload failed")
	mustContain(t, "proxy's log after a broken file", r.err.String(), rules+":2:")
	plainRoundTrip(t, local, "events", "g-broken", "broken", 100)

	if code := r.stop(t); code != exitOK {
		t.Fatalf("proxy after its context ended: exit %d\n%s", code, r.err.String())
	}
}

// A broker port that another process holds: the proxy does not start, and
// says which node and port, and what to do.
func TestProxyPortTaken(t *testing.T) {
	c := proxyCluster(t)
	dir := t.TempDir()
	rules := writeFile(t, dir, "k8s.rules", c.Rules())
	p := testpeers.FreePortRun(t, 3)
	taken, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+2)))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	r := startProxy(t, nil, "--bootstrap", "kafka-1.proxy.invalid:9092", "--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), "--rules", rules)
	if code := r.exited(t); code != exitProblem {
		t.Fatalf("proxy with node 1's port taken: exit %d, want %d\n%s", code, exitProblem, r.err.String())
	}
	mustContain(t, "proxy's error", r.err.String(), "node 1", strconv.Itoa(p+2), "--port-base")
	if r.out.String() != "" {
		t.Errorf("proxy that did not start printed listeners:\n%s", r.out.String())
	}
}

// A bootstrap address no rule matches under --strict: exit 1 with the
// dialer's reason and a hint.
func TestProxyBootstrapUnreachable(t *testing.T) {
	r := startProxy(t, nil, "--bootstrap", "nowhere.proxy.invalid:9092", "--listen", "127.0.0.1:0", "--strict", "--timeout", "5s")
	if code := r.exited(t); code != exitProblem {
		t.Fatalf("proxy with an unreachable bootstrap: exit %d, want %d\n%s", code, exitProblem, r.err.String())
	}
	mustContain(t, "proxy's error", r.err.String(), "nowhere.proxy.invalid:9092", "no kafkadial rule matches", "hint: ")
	mustNotContain(t, "proxy's error", r.err.String(), "proxy: proxy:")
}
