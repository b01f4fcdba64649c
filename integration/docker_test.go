package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/adapters/kafkagodial"
	"github.com/kafkadial/kafkadial/adapters/saramadial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/dockertest"
	"github.com/kafkadial/kafkadial/resolver/docker"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The Docker suites run the real clients against kfake brokers in real
// containers of a real engine (bash .ci/docker-setup starts one), built
// FROM scratch from cmd/kfakeserve, reached through a strict dialer whose
// only source of addresses is the Docker resolver: no rules.

func TestMain(m *testing.M) { os.Exit(dockertest.Main(m)) }

const kfakeImage = "github.com/kafkadial/kafkadial/integration/cmd/kfakeserve"

// dockerKafka is three brokers behind containers kafka-1..3 on a
// user-defined network. One kfake cluster runs in a core container (broker
// N listens on :2909N and advertises kafka-N:29092); container kafka-N
// forwards its :29092 to kfake-core:2909N, found by Docker's own DNS, and
// publishes it on a random loopback port.
type dockerKafka struct {
	e      *dockertest.Engine
	net    dockertest.Network
	core   string
	fronts []string
}

func startDockerKafka(t *testing.T) *dockerKafka {
	t.Helper()
	e := dockertest.Need(t)
	img := e.Image(kfakeImage)
	k := &dockerKafka{e: e, net: e.Network("kafka")}
	k.core = e.Start("--name", e.Name("kfake-core"), "--network", k.net.Name, "--network-alias", "kfake-core", img,
		"-brokers", "3", "-listen", ":2909{id}", "-advertise", "kafka-{id}:29092", "-topic", fmt.Sprintf("%s:%d", topic, partitions), "-spread-leaders")
	for i := 1; i <= 3; i++ {
		k.fronts = append(k.fronts, e.Start("--name", e.Name(fmt.Sprintf("kafka-%d", i)), "--network", k.net.Name,
			"--network-alias", fmt.Sprintf("kafka-%d", i), "-p", "127.0.0.1::29092",
			img, "-brokers", "0", "-forward", fmt.Sprintf(":29092=kfake-core:2909%d", i)))
	}
	e.WaitLog(k.core, "ready", 30*time.Second)
	for _, f := range k.fronts {
		e.WaitLog(f, "ready", 30*time.Second)
	}
	return k
}

// targets records, from the dialer's debug log, where each advertised
// address was dialled: every dial, or with rule set only those whose route
// came from that rule source, or by that origin ("resolver" for the Docker
// resolver's, whose routes name no rule).
type targets struct {
	rule string
	mu   sync.Mutex
	seen map[string]map[string]bool // addr -> targets
}

func newTargets(rule string) *targets {
	return &targets{rule: rule, seen: map[string]map[string]bool{}}
}

func (tg *targets) Enabled(context.Context, slog.Level) bool { return true }
func (tg *targets) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "kafkadial: dialled" {
		return nil
	}
	var addr, target, rule, origin string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "addr":
			addr = a.Value.String()
		case "target":
			target = a.Value.String()
		case "rule":
			rule = a.Value.String()
		case "origin":
			origin = a.Value.String()
		}
		return true
	})
	if tg.rule != "" && rule != tg.rule && origin != tg.rule {
		return nil
	}
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if tg.seen[addr] == nil {
		tg.seen[addr] = map[string]bool{}
	}
	tg.seen[addr][target] = true
	return nil
}
func (tg *targets) WithAttrs([]slog.Attr) slog.Handler { return tg }
func (tg *targets) WithGroup(string) slog.Handler      { return tg }

// of returns where addr was dialled, sorted.
func (tg *targets) of(addr string) []string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return slices.Sorted(maps.Keys(tg.seen[addr]))
}

// addrs returns the addresses dialled, sorted.
func (tg *targets) addrs() []string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return slices.Sorted(maps.Keys(tg.seen))
}

func dockerResolver(t testing.TB, opts ...docker.Option) *docker.Resolver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := docker.New(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// dockerDialer is a strict dialer with no rules: the Docker resolver is its
// only source of addresses.
func dockerDialer(t testing.TB, r *docker.Resolver, log *targets) *dialer.Dialer {
	t.Helper()
	opts := []dialer.Option{dialer.WithStrict(), dialer.WithResolver(r), dialer.WithTimeout(5 * time.Second)}
	if log != nil {
		opts = append(opts, dialer.WithLogger(slog.New(log)))
	}
	d, err := dialer.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// Three brokers in containers, each published on a random loopback port:
// every client produces and consumes 10,000 records, bootstrapping from
// kafka-1:29092, with no rules.
func TestDockerClients(t *testing.T) {
	k := startDockerKafka(t)
	r := dockerResolver(t, docker.WithHost(k.e.Host))
	tg := newTargets("resolver")
	d := dockerDialer(t, r, tg)
	const seed = "kafka-1:29092"
	t.Run("sarama", func(t *testing.T) {
		cfg := saramaConfig()
		saramadial.Configure(cfg, d)
		testSarama(t, seed, cfg, "docker-sarama", records)
	})
	t.Run("franz-go", func(t *testing.T) { testFranz(t, seed, "docker-franz", records, franzdial.Opt(d)) })
	t.Run("kafka-go", func(t *testing.T) {
		testKafkaGo(t, seed, "docker-kafkago", records, kafkagodial.Transport(d), kafkagodial.Dialer(d))
	})
	// Every broker was dialled by its advertised name, at the port the
	// engine published for it (and only there: published ports come first).
	for i, f := range k.fronts {
		addr := fmt.Sprintf("kafka-%d:29092", i+1)
		pub := k.e.Published(f, 29092)
		if got := tg.of(addr); len(got) != 1 || got[0] != pub {
			t.Errorf("%s was dialled at %v, want only %s", addr, got, pub)
		}
	}
}

// One broker whose container restarts (and so gets a new random port)
// while an idempotent franz-go producer keeps producing through the same
// client: every record is in the log exactly once. kfake keeps its state
// in a volume (-data), as a real broker keeps its log.
func TestDockerBrokerRestart(t *testing.T) {
	e := dockertest.Need(t)
	img := e.Image(kfakeImage)
	n := e.Network("restart")
	vol := e.Volume("data")
	c := e.Start("--name", e.Name("kafka-r"), "--network", n.Name, "--network-alias", "kafka-r", "-v", vol+":/data",
		"-p", "127.0.0.1::29092", img, "-brokers", "1", "-listen", ":29092", "-advertise", "kafka-r:29092",
		"-data", "/data", "-topic", fmt.Sprintf("%s:%d", topic, partitions))
	e.WaitLog(c, "ready", 30*time.Second)
	p0 := e.Published(c, 29092)
	r := dockerResolver(t, docker.WithHost(e.Host))
	d := dockerDialer(t, r, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	producer, err := kgo.NewClient(kgo.SeedBrokers("kafka-r:29092"), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), franzdial.Opt(d))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	const batch = 100
	restarted := make(chan error, 1)
	start := time.Now()
	// The container restarts once 2,000 records are in, while the producer
	// goes on at a steady pace without waiting: its batches meet the broker
	// going down, the container stopped, the old port closed and the new
	// one. It stops 2,000 records after the restart is over.
	n6, stopAt := 0, -1
	for n6 != stopAt && n6 < 100000 {
		if n6 == 2000 {
			go func() {
				_, err := e.Docker("restart", "-t", "10", c)
				restarted <- err
			}()
		}
		if stopAt < 0 && n6 > 2000 {
			select {
			case err := <-restarted:
				if err != nil {
					t.Fatal(err)
				}
				stopAt = n6 + 2000
				t.Logf("restart done after %d records", n6)
			default:
			}
		}
		rs := make([]*kgo.Record, batch)
		for j := range rs {
			rs[j] = kgo.StringRecord(fmt.Sprintf("restart-%d", n6+j))
		}
		if err := producer.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce records %d..%d: %v\nbroker log:\n%s", n6, n6+batch-1, err, e.Logs(c))
		}
		n6 += batch
		time.Sleep(10 * time.Millisecond)
	}
	if stopAt < 0 {
		t.Fatalf("the restart did not finish while %d records were produced", n6)
	}
	if logs := e.Logs(c); strings.Count(logs, "ready") != 2 {
		t.Fatalf("the broker did not restart once:\n%s", logs)
	}
	p1 := e.Published(c, 29092)
	t.Logf("produced %d records in %s; the broker moved from %s to %s", n6, time.Since(start).Round(time.Millisecond), p0, p1)
	if p1 == p0 {
		t.Logf("the engine published the same port after the restart")
	}
	if got, err := r.Resolve(ctx, "kafka-r:29092"); err != nil || got[0] != p1 {
		t.Fatalf("Resolve after the restart = %v, %v; want %s first", got, err, p1)
	}

	// The log holds each record once: end offsets add up to n6...
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = int32(p), -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, producer)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			if err := kerrOf(p.ErrorCode); err != nil {
				t.Fatalf("list offsets %s/%d: %v", tp.Topic, p.Partition, err)
			}
			total += p.Offset
		}
	}
	if total != int64(n6) {
		t.Fatalf("the log holds %d records, produced %d exactly once", total, n6)
	}
	// ... and a consumer reads every one, once.
	l := newLedger("restart", n6)
	consumer, err := kgo.NewClient(kgo.SeedBrokers("kafka-r:29092"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), franzdial.Opt(d))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var got int
	cctx, ccancel := context.WithCancel(ctx)
	l.consume(t, ccancel, func() {
		for cctx.Err() == nil && got < n6 {
			fs := consumer.PollFetches(cctx)
			fs.EachRecord(func(r *kgo.Record) { got++; l.add(string(r.Value), r.Partition) })
		}
	})
	if got != n6 {
		t.Fatalf("consumed %d records, want %d", got, n6)
	}
	for v, c := range l.seen {
		if c != 1 {
			t.Fatalf("%s consumed %d times", v, c)
		}
	}
}

func kerrOf(code int16) error {
	if code == 0 {
		return nil
	}
	return fmt.Errorf("kafka error code %d", code)
}

// A broker whose port is not published: this engine routes to containers,
// so the clients reach it at its container address; under
// WithPublishedOnly the dial is refused, saying what to do.
func TestDockerUnpublished(t *testing.T) {
	e := dockertest.Need(t)
	img := e.Image(kfakeImage)
	n := e.Network("unpub")
	c := e.Start("--name", e.Name("kafka-u"), "--network", n.Name, "--network-alias", "kafka-u", img,
		"-brokers", "1", "-listen", ":29092", "-advertise", "kafka-u:29092", "-topic", fmt.Sprintf("%s:%d", topic, partitions))
	e.WaitLog(c, "ready", 30*time.Second)
	r := dockerResolver(t, docker.WithHost(e.Host))
	tg := newTargets("resolver")
	d := dockerDialer(t, r, tg)
	testFranz(t, "kafka-u:29092", "unpub-franz", 1000, franzdial.Opt(d))
	want := e.Addr(c, n).String() + ":29092"
	if got := tg.of("kafka-u:29092"); len(got) != 1 || got[0] != want {
		t.Fatalf("kafka-u:29092 dialled at %v, want the container address %s", got, want)
	}

	po := dockerDialer(t, dockerResolver(t, docker.WithHost(e.Host), docker.WithPublishedOnly()), nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers("kafka-u:29092"), franzdial.Opt(po), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = cl.Ping(ctx)
	var ue *docker.UnpublishedError
	if !errors.As(err, &ue) && (err == nil || !strings.Contains(err.Error(), "does not publish port 29092")) {
		t.Fatalf("franz-go under WithPublishedOnly: %v; want the resolver's refusal", err)
	}
	if !strings.Contains(err.Error(), "publish 29092") || !strings.Contains(err.Error(), "drop WithPublishedOnly") {
		t.Fatalf("error %q does not say what to do", err)
	}
	t.Logf("franz-go under WithPublishedOnly: %v", err)
}
