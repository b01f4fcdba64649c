package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/adapters/kafkagodial"
	"github.com/kafkadial/kafkadial/adapters/saramadial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/testenv"
	"github.com/kafkadial/kafkadial/kafkatest"
	"github.com/kafkadial/kafkadial/resolver"
)

const (
	dnsTopic      = topic // the produce/consume helpers of clients_test.go use it
	dnsPartitions = partitions
	dnsRecords    = 2000
)

// dnsResolverDialer builds a resolver from zone text and a strict dialer
// with no rules that asks it: every broker address must come from the
// resolver, and a name it does not hold fails the dial instead of reaching
// the system resolver.
func dnsResolverDialer(t testing.TB, zone string) (*resolver.Resolver, *dialer.Dialer) {
	t.Helper()
	r, err := resolver.New(resolver.WithZone(zone))
	if err != nil {
		t.Fatal(err)
	}
	d, err := dialer.New(dialer.WithStrict(), dialer.WithResolver(r), dialer.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return r, d
}

// spreadLeaders makes broker p%3 lead partition p of dnsTopic (kfake picks
// leaders at random), so that producing to every partition reaches every
// broker by its advertised name.
func spreadLeaders(t testing.TB, c *kafkatest.Cluster, partitions int) {
	t.Helper()
	for p := range partitions {
		id := c.Brokers[p%len(c.Brokers)].ID
		if err := c.Kfake().MoveTopicPartition(dnsTopic, int32(p), id); err != nil {
			t.Fatalf("moving %s/%d to broker %d: %v", dnsTopic, p, id, err)
		}
	}
}

// dnsSarama, dnsFranz and dnsKafkaGo run the clients' produce-and-consume
// checks of clients_test.go through d.
func dnsSarama(t *testing.T, d *dialer.Dialer, seed, prefix string) {
	cfg := saramaConfig()
	saramadial.Configure(cfg, d)
	testSarama(t, seed, cfg, prefix, dnsRecords)
}

func dnsFranz(t *testing.T, d *dialer.Dialer, seed, prefix string) {
	testFranz(t, seed, prefix, dnsRecords, franzdial.Opt(d))
}

func dnsKafkaGo(t *testing.T, d *dialer.Dialer, seed, prefix string) {
	testKafkaGo(t, seed, prefix, dnsRecords, kafkagodial.Transport(d), kafkagodial.Dialer(d))
}

// dnsNetns is a network namespace made by the test, joined to the host
// namespace by a veth pair on 198.18.ID.0/24: the host side holds .1, .2
// and .3 (one per broker), the namespace side .10.
type dnsNetns struct {
	name   string
	prefix string // "198.18.ID."
	dir    string
}

func startDNSNetns(t testing.TB) *dnsNetns {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.Need(t, "ip", "kcat", "go")
	// Test addresses never leave the machine.
	if out, err := exec.Command("ip", "route", "add", "unreachable", "198.18.0.0/15").CombinedOutput(); err != nil &&
		!strings.Contains(string(out), "File exists") {
		t.Fatalf("ip route add unreachable 198.18.0.0/15: %v: %s", err, out)
	}
	// An ID per process, so that two test binaries never share addresses
	// (the bastion suite uses 198.19.0.0/16).
	id := 100 + os.Getpid()%150
	n := &dnsNetns{name: fmt.Sprintf("kdns%d", id), prefix: fmt.Sprintf("198.18.%d.", id), dir: t.TempDir()}
	host, peer := fmt.Sprintf("kdh%d", id), fmt.Sprintf("kdn%d", id)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	exec.Command("ip", "netns", "del", n.name).Run() // left over from a killed run
	exec.Command("ip", "link", "del", host).Run()
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", host).Run()
		exec.Command("ip", "netns", "del", n.name).Run()
		os.RemoveAll(filepath.Join("/etc/netns", n.name))
	})
	ip("netns", "add", n.name)
	ip("link", "add", host, "type", "veth", "peer", "name", peer)
	ip("link", "set", peer, "netns", n.name)
	for i := 1; i <= 3; i++ {
		ip("addr", "add", n.prefix+fmt.Sprint(i)+"/24", "dev", host)
	}
	ip("link", "set", host, "up")
	ip("-n", n.name, "addr", "add", n.prefix+"10/24", "dev", peer)
	ip("-n", n.name, "link", "set", peer, "up")
	ip("-n", n.name, "link", "set", "lo", "up")
	// The namespace's resolver is kafkadial dns serve on its own loopback.
	etc := filepath.Join("/etc/netns", n.name)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}

// exec runs a command inside the namespace.
func (n *dnsNetns) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name, name}, args...)...)
}

// buildKafkadial builds the kafkadial command into dir.
func buildKafkadial(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "kafkadial")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/kafkadial/kafkadial/cmd/kafkadial").CombinedOutput()
	if err != nil {
		t.Fatalf("building kafkadial: %v\n%s", err, out)
	}
	return bin
}

// dnsServeProc is `kafkadial dns serve -v` running in a namespace.
type dnsServeProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	log    strings.Builder
	exited chan struct{}
	err    error
}

var dnsServing = regexp.MustCompile(`serving .* on (\S+) \(UDP and TCP\)`)

func startDNSServe(t testing.TB, n *dnsNetns, bin, zone string) *dnsServeProc {
	t.Helper()
	return startServing(t, n.command(context.Background(), bin, "dns", "serve", "-v", "--zone", zone, "--listen", "127.0.0.1:53"))
}

// startServing starts cmd, a `kafkadial dns serve`, and waits until it
// says where it serves.
func startServing(t testing.TB, cmd *exec.Cmd) *dnsServeProc {
	t.Helper()
	p := &dnsServeProc{exited: make(chan struct{}), cmd: cmd}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if dnsServing.MatchString(sc.Text()) {
				once.Do(func() { close(serving) })
			}
		}
		io.Copy(io.Discard, stderr)
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.exited })
	select {
	case <-serving:
	case <-p.exited:
		t.Fatalf("kafkadial dns serve exited: %v\n%s", p.err, p.output())
	case <-time.After(30 * time.Second):
		t.Fatalf("kafkadial dns serve did not start:\n%s", p.output())
	}
	return p
}

func (p *dnsServeProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// stop sends SIGINT, as Ctrl-C does, and checks for a clean exit.
func (p *dnsServeProc) stop(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("kafkadial dns serve did not stop on SIGINT:\n%s", p.output())
	}
	if p.err != nil || !strings.Contains(p.output(), "stopped") {
		t.Fatalf("kafkadial dns serve after SIGINT: %v\n%s", p.err, p.output())
	}
}

// kcatRecords is how many records kcatRoundTrip produces and consumes.
const kcatRecords = 300

// kcatRoundTrip produces kcatRecords records to topic with kcat,
// bootstrapping from kafka-1:29092, one kcat per partition (each led by a
// different broker, reached by its advertised name), then consumes them
// all; it fails the test unless every record comes back, from every one
// of the partitions. kcat makes a kcat command that resolves names as the
// test arranged; srv's log is shown when a produce fails.
func kcatRoundTrip(t *testing.T, kcat func(args ...string) *exec.Cmd, topic string, partitions int, srv *dnsServeProc) {
	t.Helper()
	start := time.Now()
	for p := range partitions {
		var in strings.Builder
		for i := p; i < kcatRecords; i += partitions {
			fmt.Fprintf(&in, "kcat-%d\n", i)
		}
		produce := kcat("-P", "-b", "kafka-1:29092", "-t", topic, "-p", strconv.Itoa(p))
		produce.Stdin = strings.NewReader(in.String())
		if out, err := produce.CombinedOutput(); err != nil {
			t.Fatalf("kcat -P -p %d: %v\n%s\nkafkadial dns serve:\n%s", p, err, out, srv.output())
		}
	}
	t.Logf("kcat produced %d records in %s", kcatRecords, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	out, err := kcat("-C", "-b", "kafka-1:29092", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%p %s\n").Output()
	if err != nil {
		t.Fatalf("kcat -C: %v\n%s\nkafkadial dns serve:\n%s", err, out, srv.output())
	}
	t.Logf("kcat consumed in %s", time.Since(start).Round(time.Millisecond))
	seen, parts := map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		p, v, _ := strings.Cut(line, " ")
		seen[v], parts[p] = true, true
	}
	for i := range kcatRecords {
		if !seen["kcat-"+strconv.Itoa(i)] {
			t.Fatalf("kcat consumed %d of %d records; kcat-%d missing", len(seen), kcatRecords, i)
		}
	}
	if len(parts) != partitions {
		meta, _ := kcat("-L", "-b", "kafka-1:29092", "-t", topic).CombinedOutput()
		t.Fatalf("records in %d partitions, want %d (one led by each broker); kcat -L:\n%s", len(parts), partitions, meta)
	}
}
