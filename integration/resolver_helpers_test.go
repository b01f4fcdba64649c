package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/adapters/kafkagodial"
	"github.com/kafkadial/kafkadial/adapters/saramadial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/testenv"
	"github.com/kafkadial/kafkadial/kafkatest"
	"github.com/kafkadial/kafkadial/resolver"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	dnsTopic      = "dns-events"
	dnsPartitions = 6
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

// dnsLedger checks that every produced value is consumed exactly once at
// least, and from which partitions.
type dnsLedger struct {
	prefix     string
	want       int
	mu         sync.Mutex
	seen       map[string]bool
	partitions map[int32]bool
	done       chan struct{}
}

func newDNSLedger(prefix string, want int) *dnsLedger {
	return &dnsLedger{prefix: prefix + "-", want: want, seen: map[string]bool{}, partitions: map[int32]bool{}, done: make(chan struct{})}
}

func (l *dnsLedger) add(value string, partition int32) {
	if !strings.HasPrefix(value, l.prefix) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[value] {
		return
	}
	l.seen[value] = true
	l.partitions[partition] = true
	if len(l.seen) == l.want {
		close(l.done)
	}
}

func (l *dnsLedger) wait(t testing.TB, timeout time.Duration, partitions int) {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(timeout):
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.want {
		if v := fmt.Sprintf("%s%d", l.prefix, i); !l.seen[v] {
			t.Fatalf("consumed %d of %d records; first missing %s", len(l.seen), l.want, v)
		}
	}
	if len(l.partitions) != partitions {
		t.Fatalf("records came from %d partitions, want %d", len(l.partitions), partitions)
	}
}

func dnsValues(prefix string, n int) []string {
	v := make([]string, n)
	for i := range v {
		v[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return v
}

// dnsSarama produces with a SyncProducer and consumes with a consumer group.
func dnsSarama(t *testing.T, d *dialer.Dialer, seed, prefix string) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Net.DialTimeout = 5 * time.Second
	saramadial.Configure(cfg, d)
	p, err := sarama.NewSyncProducer([]string{seed}, cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	var msgs []*sarama.ProducerMessage
	for _, v := range dnsValues(prefix, dnsRecords) {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: dnsTopic, Value: sarama.StringEncoder(v)})
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatalf("sarama produce: %v", err)
	}
	p.Close()

	g, err := sarama.NewConsumerGroup([]string{seed}, "g-"+prefix, cfg)
	if err != nil {
		t.Fatalf("sarama consumer group: %v", err)
	}
	defer g.Close()
	l := newDNSLedger(prefix, dnsRecords)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	stopped := make(chan struct{})
	defer func() { cancel(); <-stopped }()
	go func() {
		defer close(stopped)
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{dnsTopic}, dnsGroupHandler{l}); err != nil && ctx.Err() == nil {
				t.Errorf("sarama consume: %v", err)
				return
			}
		}
	}()
	l.wait(t, 60*time.Second, dnsPartitions)
}

type dnsGroupHandler struct{ l *dnsLedger }

func (dnsGroupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (dnsGroupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h dnsGroupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.l.add(string(m.Value), m.Partition)
		s.MarkMessage(m, "")
	}
	return nil
}

// dnsFranz produces and consumes (consumer group) with franz-go.
func dnsFranz(t *testing.T, d *dialer.Dialer, seed, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, err := kgo.NewClient(franzdial.Opt(d), kgo.SeedBrokers(seed), kgo.DefaultProduceTopic(dnsTopic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	var rs []*kgo.Record
	for _, v := range dnsValues(prefix, dnsRecords) {
		rs = append(rs, kgo.StringRecord(v))
	}
	if err := p.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("franz-go produce: %v", err)
	}
	p.Close()

	c, err := kgo.NewClient(franzdial.Opt(d), kgo.SeedBrokers(seed), kgo.ConsumerGroup("g-"+prefix),
		kgo.ConsumeTopics(dnsTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := newDNSLedger(prefix, dnsRecords)
	stopped := make(chan struct{})
	defer func() { cancel(); <-stopped }()
	go func() {
		defer close(stopped)
		for ctx.Err() == nil {
			fs := c.PollFetches(ctx)
			fs.EachError(func(topic string, p int32, err error) {
				if ctx.Err() == nil {
					t.Errorf("franz-go fetch %s/%d: %v", topic, p, err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) { l.add(string(r.Value), r.Partition) })
			select {
			case <-l.done:
				return
			default:
			}
		}
	}()
	l.wait(t, 60*time.Second, dnsPartitions)
}

// dnsKafkaGo produces with a Writer on the Transport and consumes with a
// group Reader.
func dnsKafkaGo(t *testing.T, d *dialer.Dialer, seed, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	w := &kafka.Writer{Addr: kafka.TCP(seed), Topic: dnsTopic, Transport: kafkagodial.Transport(d),
		Balancer: &kafka.RoundRobin{}, BatchSize: 200, BatchTimeout: 10 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	var msgs []kafka.Message
	for _, v := range dnsValues(prefix, dnsRecords) {
		msgs = append(msgs, kafka.Message{Value: []byte(v)})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("kafka-go produce: %v", err)
	}
	w.Close()

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{seed}, GroupID: "g-" + prefix, Topic: dnsTopic,
		Dialer: kafkagodial.Dialer(d), StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond,
		JoinGroupBackoff: 100 * time.Millisecond})
	defer r.Close()
	l := newDNSLedger(prefix, dnsRecords)
	stopped := make(chan struct{})
	defer func() { cancel(); <-stopped }()
	go func() {
		defer close(stopped)
		for ctx.Err() == nil {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
					t.Errorf("kafka-go read: %v", err)
				}
				return
			}
			l.add(string(m.Value), int32(m.Partition))
		}
	}()
	l.wait(t, 60*time.Second, dnsPartitions)
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
	p := &dnsServeProc{exited: make(chan struct{})}
	p.cmd = n.command(context.Background(), bin, "dns", "serve", "-v", "--zone", zone, "--listen", "127.0.0.1:53")
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
