package integration

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/adapters/kafkagodial"
	"github.com/kafkadial/kafkadial/adapters/saramadial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/testcert"
	"github.com/kafkadial/kafkadial/kafkatest"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	topic      = "events"
	records    = 10000
	partitions = 6
)

// startCluster starts three brokers advertising kafka-1:29092 ..
// kafka-3:29092, each published on its own loopback port.
func startCluster(t testing.TB, opts ...kafkatest.Option) *kafkatest.Cluster {
	t.Helper()
	c, err := kafkatest.Start(append([]kafkatest.Option{kafkatest.WithTopic(topic, partitions)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for i, b := range c.Brokers {
		if want := fmt.Sprintf("kafka-%d:29092", i+1); b.Advertised != want {
			t.Fatalf("broker %d advertises %s, want %s", i, b.Advertised, want)
		}
	}
	return c
}

// newDialer builds a strict dialer from the cluster's rules, so that any
// address the rules miss fails the test instead of going elsewhere.
func newDialer(t testing.TB, c *kafkatest.Cluster, opts ...dialer.Option) *dialer.Dialer {
	t.Helper()
	d, err := dialer.New(append([]dialer.Option{dialer.WithStrict(), dialer.WithRules(c.Rules())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// ledger checks that every produced value is consumed, and from which
// partitions.
type ledger struct {
	prefix     string // values of other producers on the topic are ignored
	mu         sync.Mutex
	seen       map[string]int
	partitions map[int32]bool
	done       chan struct{}
	want       int
}

func newLedger(prefix string, want int) *ledger {
	return &ledger{prefix: prefix + "-", seen: map[string]int{}, partitions: map[int32]bool{}, done: make(chan struct{}), want: want}
}

func (l *ledger) add(value string, partition int32) {
	if !strings.HasPrefix(value, l.prefix) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen[value]++
	l.partitions[partition] = true
	if len(l.seen) == l.want && l.seen[value] == 1 {
		close(l.done)
	}
}

// consume runs loop on its own goroutine until the ledger has every record
// (or a minute passes), then cancels it and waits for it to return, so
// nothing logs after the test ends.
func (l *ledger) consume(t *testing.T, cancel context.CancelFunc, loop func()) {
	t.Helper()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		loop()
	}()
	defer func() { cancel(); <-stopped }()
	l.wait(t, 60*time.Second)
}

func (l *ledger) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	prefix := strings.TrimSuffix(l.prefix, "-")
	select {
	case <-l.done:
	case <-time.After(timeout):
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; i < l.want; i++ {
		if v := fmt.Sprintf("%s-%d", prefix, i); l.seen[v] == 0 {
			t.Fatalf("consumed %d of %d distinct records; first missing %s", len(l.seen), l.want, v)
		}
	}
	if len(l.seen) != l.want {
		t.Fatalf("consumed %d distinct records, want %d", len(l.seen), l.want)
	}
	if len(l.partitions) != partitions {
		t.Fatalf("records came from %d partitions, want %d", len(l.partitions), partitions)
	}
}

// createTopic creates topic with parts partitions (replication factor 1)
// through cl, and fails the test unless the broker says it did.
func createTopic(t testing.TB, ctx context.Context, cl *kgo.Client, topic string, parts int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, parts, 1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("creating topic %s: %v", topic, err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("creating topic %s: %+v", topic, resp.Topics)
	}
}

func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Net.DialTimeout = 5 * time.Second
	return cfg
}

func TestSarama(t *testing.T) {
	c := startCluster(t)
	d := newDialer(t, c)
	cfg := saramaConfig()
	saramadial.Configure(cfg, d)
	testSarama(t, c.Seed(), cfg, "sarama", records)
}

func testSarama(t *testing.T, seed string, cfg *sarama.Config, prefix string, n int) {
	t.Helper()
	producer, err := sarama.NewSyncProducer([]string{seed}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]*sarama.ProducerMessage, 0, 500)
	for i := 0; i < n; i++ {
		batch = append(batch, &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("%s-%d", prefix, i))})
		if len(batch) == cap(batch) || i == n-1 {
			if err := producer.SendMessages(batch); err != nil {
				t.Fatalf("produce: %v", err)
			}
			batch = batch[:0]
		}
	}
	producer.Close()

	group, err := sarama.NewConsumerGroup([]string{seed}, "g-"+prefix, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	l := newLedger(prefix, n)
	ctx, cancel := context.WithCancel(context.Background())
	l.consume(t, cancel, func() {
		for ctx.Err() == nil {
			if err := group.Consume(ctx, []string{topic}, saramaHandler{l}); err != nil && ctx.Err() == nil {
				t.Errorf("consume: %v", err)
				return
			}
		}
	})
}

type saramaHandler struct{ l *ledger }

func (saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		h.l.add(string(m.Value), m.Partition)
		s.MarkMessage(m, "")
	}
	return nil
}

func TestFranz(t *testing.T) {
	c := startCluster(t)
	d := newDialer(t, c)
	testFranz(t, c.Seed(), "franz", records, franzdial.Opt(d))
}

func testFranz(t *testing.T, seed, prefix string, n int, opts ...kgo.Opt) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	producer, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(seed),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = kgo.StringRecord(fmt.Sprintf("%s-%d", prefix, i))
	}
	if err := producer.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	producer.Close()

	consumer, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(seed),
		kgo.ConsumerGroup("g-" + prefix),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	l := newLedger(prefix, n)
	l.consume(t, cancel, func() {
		for ctx.Err() == nil {
			fs := consumer.PollFetches(ctx)
			fs.EachError(func(topic string, p int32, err error) {
				if ctx.Err() == nil {
					t.Errorf("fetch %s/%d: %v", topic, p, err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) { l.add(string(r.Value), r.Partition) })
			select {
			case <-l.done:
				return
			default:
			}
		}
	})
}

func TestKafkaGo(t *testing.T) {
	c := startCluster(t)
	d := newDialer(t, c)
	testKafkaGo(t, c.Seed(), "kafkago", records, kafkagodial.Transport(d), kafkagodial.Dialer(d))
}

func testKafkaGo(t *testing.T, seed, prefix string, n int, tr *kafka.Transport, kd *kafka.Dialer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	w := &kafka.Writer{
		Addr:         kafka.TCP(seed),
		Topic:        topic,
		Transport:    tr,
		Balancer:     &kafka.RoundRobin{},
		BatchSize:    500,
		BatchTimeout: 10 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
	}
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
	w.Close()

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:          []string{seed},
		GroupID:          "g-" + prefix,
		Topic:            topic,
		Dialer:           kd,
		StartOffset:      kafka.FirstOffset,
		MaxWait:          100 * time.Millisecond,
		JoinGroupBackoff: 100 * time.Millisecond,
	})
	defer r.Close()
	l := newLedger(prefix, n)
	l.consume(t, cancel, func() {
		for ctx.Err() == nil {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
					t.Errorf("read: %v", err)
				}
				return
			}
			l.add(string(m.Value), int32(m.Partition))
		}
	})
}

// Without the dialer, each client fails the way a user sees it: metadata
// arrives from the published seed, then the advertised name does not
// resolve. A plain net.Dialer that records its failures stands in for the
// clients' default dialer where they have a hook, to show which address
// failed and why. Few attempts, so only a handful of lookups reach the
// system resolver.
func TestClientsFailWithoutDialer(t *testing.T) {
	c := startCluster(t)
	advertisedFailed := func(client string, err error, rec *recordingDialer) {
		t.Helper()
		if err == nil {
			t.Errorf("%s produced without the dialer: the test cluster is reachable by its advertised names", client)
			return
		}
		t.Logf("%s without the dialer: %v", client, err)
		if rec == nil {
			if !strings.Contains(err.Error(), "kafka-") {
				t.Errorf("%s: error %q does not name an advertised broker", client, err)
			}
			return
		}
		if f := rec.failure(); !strings.HasPrefix(f, "kafka-") || !strings.Contains(f, "29092") || !strings.Contains(f, "lookup kafka-") {
			t.Errorf("%s: no failed dial of an advertised address (first failure: %q)", client, f)
		}
	}

	cfg := saramaConfig()
	cfg.Producer.Retry.Max = 1
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Metadata.Retry.Max = 1
	cfg.Net.DialTimeout = 2 * time.Second
	p, err := sarama.NewSyncProducer([]string{c.Seed()}, cfg)
	if err == nil {
		_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("x")})
		p.Close()
	}
	advertisedFailed("sarama", err, nil)

	rec := &recordingDialer{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seed()), kgo.DefaultProduceTopic(topic), kgo.Dialer(rec.DialContext),
		kgo.RecordDeliveryTimeout(2*time.Second), kgo.RetryTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	advertisedFailed("franz-go", cl.ProduceSync(ctx, kgo.StringRecord("x")).FirstErr(), rec)
	cl.Close()

	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec = &recordingDialer{}
	w := &kafka.Writer{Addr: kafka.TCP(c.Seed()), Topic: topic, MaxAttempts: 1, BatchTimeout: time.Millisecond,
		Transport: &kafka.Transport{Dial: rec.DialContext}}
	advertisedFailed("kafka-go", w.WriteMessages(ctx, kafka.Message{Value: []byte("x")}), rec)
	w.Close()
}

// recordingDialer is a plain net.Dialer that remembers its first failure.
// Its resolver reads /etc/hosts as usual but sends no DNS query: the
// clients retry, and the tests send no stream of lookups to the system
// resolver.
type recordingDialer struct {
	mu    sync.Mutex
	first string
}

var errNoDNS = errors.New("no DNS queries from tests")

func (r *recordingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Resolver: &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errNoDNS
	}}}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		r.mu.Lock()
		if r.first == "" {
			r.first = addr + ": " + err.Error()
		}
		r.mu.Unlock()
	}
	return c, err
}

func (r *recordingDialer) failure() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first
}

// TLS verifies the advertised name through every adapter: a certificate for
// kafka-1..3 works while the dial goes to 127.0.0.1, a certificate for
// other names fails. sarama and kafka-go layer TLS themselves on what the
// dialer returns; a second TLS layer would break the handshake, so success
// also shows there is exactly one.
func TestTLSThroughAdapters(t *testing.T) {
	ca, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		names []string
		ok    bool
	}{
		{"advertised-names", []string{"kafka-1", "kafka-2", "kafka-3"}, true},
		{"other-names", []string{"localhost", "127.0.0.1", "kafka", "kafka-1.example"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := ca.Server(tc.names...)
			if err != nil {
				t.Fatal(err)
			}
			c := startCluster(t, kafkatest.WithTLS(srv))
			d := newDialer(t, c, dialer.WithTLS(ca.Client()), dialer.WithTimeout(3*time.Second))
			// With TLS, the seed is an advertised name too: the rules remap
			// it, and its certificate is checked against that name.
			seed := c.Brokers[0].Advertised
			const n = 300
			if tc.ok {
				t.Run("sarama", func(t *testing.T) {
					cfg := saramaConfig()
					saramadial.Configure(cfg, d)
					if !cfg.Net.TLS.Enable || cfg.Net.TLS.Config != d.TLSConfig() {
						t.Fatal("Configure did not hand the TLS config to sarama")
					}
					testSarama(t, seed, cfg, "sarama-tls", n)
				})
				t.Run("franz-go", func(t *testing.T) { testFranz(t, seed, "franz-tls", n, franzdial.Opt(d)) })
				t.Run("kafka-go", func(t *testing.T) {
					testKafkaGo(t, seed, "kafkago-tls", n, kafkagodial.Transport(d), kafkagodial.Dialer(d))
				})
				return
			}
			// Wrong names: every client refuses the certificate.
			cfg := saramaConfig()
			cfg.Metadata.Retry.Max = 0
			saramadial.Configure(cfg, d)
			_, err = sarama.NewClient([]string{seed}, cfg)
			wantCertErr(t, "sarama", err)

			cl, err := kgo.NewClient(kgo.SeedBrokers(seed), franzdial.Opt(d), kgo.RetryTimeout(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			wantCertErr(t, "franz-go", cl.Ping(ctx))
			cl.Close()

			conn, err := kafkagodial.Dialer(d).DialContext(ctx, "tcp", seed)
			if err == nil {
				conn.Close()
			}
			wantCertErr(t, "kafka-go", err)
		})
	}
}

func wantCertErr(t *testing.T, client string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s accepted a certificate for other names", client)
		return
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("%s: %v, want a certificate error", client, err)
	}
}

// The dialer's own TLS (dialer.WithTLS) must not be applied a second time
// when sarama's config already enables TLS.
func TestSaramaKeepsOwnTLSConfig(t *testing.T) {
	ca, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	d, err := dialer.New(dialer.WithTLS(ca.Client()))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cfg := sarama.NewConfig()
	mine := &tls.Config{ServerName: "explicit"}
	cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, mine
	saramadial.Configure(cfg, d)
	if cfg.Net.TLS.Config != mine || !cfg.Net.Proxy.Enable || cfg.Net.Proxy.Dialer == nil {
		t.Fatalf("Configure changed an explicit TLS config or left the proxy unset: %+v", cfg.Net)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}
