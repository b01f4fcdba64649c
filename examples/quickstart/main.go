// Command quickstart shows the problem kafkadial solves and the fix, on an
// embedded three-broker cluster (no Docker needed).
//
// The brokers advertise kafka-1:29092, kafka-2:29092 and kafka-3:29092, as
// brokers on a docker-compose network do, and each is published on a host
// port (127.0.0.1:19091..19093 by default). A plain client bootstraps from
// the published port, receives the advertised names in metadata and fails
// to dial them. The same client with a kafkadial dialer and one rule
// succeeds. Then sarama, franz-go and kafka-go each produce and consume.
//
//	go run ./examples/quickstart            # from the repository root
//	go run ./examples/quickstart -ports 29190 -records 5000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"
	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/adapters/kafkagodial"
	"github.com/kafkadial/kafkadial/adapters/saramadial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/kafkatest"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	base := flag.Int("ports", 19090, "publish broker N on 127.0.0.1:PORTS+N (pick another base if 19091-19093 are busy)")
	n := flag.Int("records", 1000, "records each client produces and consumes")
	flag.Parse()
	if err := run(os.Stdout, *base, *n); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, base, n int) error {
	const topic = "quickstart"
	cluster, err := kafkatest.Start(kafkatest.WithPublishPorts(base), kafkatest.WithTopic(topic, 6))
	if err != nil {
		return fmt.Errorf("starting the embedded cluster (try -ports with another base): %w", err)
	}
	defer cluster.Close()
	seed := cluster.Seed()
	fmt.Fprintln(w, "Embedded cluster, as docker-compose would run it:")
	for _, b := range cluster.Brokers {
		fmt.Fprintf(w, "  broker %d advertises %-14s published on %s\n", b.ID, b.Advertised, b.Published)
	}

	fmt.Fprintf(w, "\n1. A plain franz-go client bootstraps from %s, then dials what metadata advertises:\n", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err = produceOnce(ctx, seed, topic)
	cancel()
	if err == nil {
		return errors.New("the plain client reached the advertised names; this machine resolves kafka-N, so the demo shows nothing")
	}
	fmt.Fprintf(w, "   FAILED: %v\n", err)

	rules := fmt.Sprintf("kafka-{id}:29092 => 127.0.0.1:{id+%d}", base)
	fmt.Fprintf(w, "\n2. The same client with a kafkadial dialer and one rule:\n   %s\n", rules)
	d, err := dialer.New(dialer.WithNamedRules("quickstart", rules))
	if err != nil {
		return err
	}
	defer d.Close()
	if err := routeTable(w, seed, d); err != nil {
		return err
	}

	fmt.Fprintf(w, "\n3. Each client produces %d records and consumes them through the dialer:\n", n)
	for _, c := range []struct {
		name string
		fn   func(ctx context.Context, seed, topic string, d *dialer.Dialer, n int) (int, int, error)
	}{
		{"sarama", viaSarama},
		{"franz-go", viaFranz},
		{"kafka-go", viaKafkaGo},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		produced, consumed, err := c.fn(ctx, seed, topic, d, n)
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		fmt.Fprintf(w, "   %-9s produced %d, consumed %d\n", c.name, produced, consumed)
	}
	return nil
}

// produceOnce produces one record. When that fails, the error is the first
// failed broker connection, which is what a user sees in the client's log.
func produceOnce(ctx context.Context, seed, topic string, opts ...kgo.Opt) error {
	// The first failed connection says it all: stop there rather than let
	// the client retry (and look the name up again) until it times out.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := firstDialError{stop: cancel}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seed), kgo.DefaultProduceTopic(topic),
		kgo.RecordDeliveryTimeout(3 * time.Second), kgo.WithHooks(&h)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, kgo.StringRecord("hello")).FirstErr(); err != nil {
		if derr := h.get(); derr != nil {
			return derr
		}
		return err
	}
	return nil
}

// firstDialError is a franz-go hook that keeps the first failed connection.
type firstDialError struct {
	mu   sync.Mutex
	err  error
	stop func()
}

func (h *firstDialError) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil && h.err == nil {
		h.err = fmt.Errorf("broker %d at %s:%d: %w", meta.NodeID, meta.Host, meta.Port, err)
		h.stop()
	}
}

func (h *firstDialError) get() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// routeTable produces through the dialer, asks the cluster for its brokers
// and prints each advertised address's route.
func routeTable(w io.Writer, seed string, d *dialer.Dialer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := produceOnce(ctx, seed, "quickstart", franzdial.Opt(d)); err != nil {
		return fmt.Errorf("produce through the dialer: %w", err)
	}
	fmt.Fprintln(w, "   produced: ok. Routes of the brokers in metadata:")
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), franzdial.Opt(d))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   NODE\tADVERTISED\tTARGET\tRULE")
	for _, b := range resp.Brokers {
		r, err := d.Route(net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
		if err != nil {
			return err
		}
		rule := r.Rule
		if rule == "" {
			rule = "(none: dialled as given)"
		}
		fmt.Fprintf(tw, "   %d\t%s\t%s\t%s\n", b.NodeID, r.Addr, r.Target, rule)
	}
	return tw.Flush()
}

func viaFranz(ctx context.Context, seed, topic string, d *dialer.Dialer, n int) (int, int, error) {
	p, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.DefaultProduceTopic(topic), franzdial.Opt(d))
	if err != nil {
		return 0, 0, err
	}
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = kgo.StringRecord(fmt.Sprintf("franz-%d", i))
	}
	err = p.ProduceSync(ctx, rs...).FirstErr()
	p.Close()
	if err != nil {
		return 0, 0, err
	}
	c, err := kgo.NewClient(kgo.SeedBrokers(seed), franzdial.Opt(d), kgo.ConsumerGroup("qs-franz"),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return n, 0, err
	}
	defer c.Close()
	seen := map[string]bool{}
	for len(seen) < n {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return n, len(seen), err
		}
		fs.EachRecord(func(r *kgo.Record) {
			if v := string(r.Value); strings.HasPrefix(v, "franz-") {
				seen[v] = true
			}
		})
	}
	return n, len(seen), nil
}

func viaSarama(ctx context.Context, seed, topic string, d *dialer.Dialer, n int) (int, int, error) {
	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	saramadial.Configure(cfg, d)
	p, err := sarama.NewSyncProducer([]string{seed}, cfg)
	if err != nil {
		return 0, 0, err
	}
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("sarama-%d", i))}
	}
	err = p.SendMessages(msgs)
	p.Close()
	if err != nil {
		return 0, 0, err
	}
	g, err := sarama.NewConsumerGroup([]string{seed}, "qs-sarama", cfg)
	if err != nil {
		return n, 0, err
	}
	defer g.Close()
	h := &saramaCollector{want: n, seen: map[string]bool{}, done: make(chan struct{})}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		for cctx.Err() == nil {
			if err := g.Consume(cctx, []string{topic}, h); err != nil && cctx.Err() == nil {
				errc <- err
				return
			}
		}
	}()
	select {
	case <-h.done:
	case err := <-errc:
		return n, 0, err
	case <-ctx.Done():
		return n, 0, ctx.Err()
	}
	cancel()
	return n, n, nil
}

type saramaCollector struct {
	mu   sync.Mutex // claims are consumed in parallel goroutines
	want int
	seen map[string]bool
	done chan struct{}
}

func (*saramaCollector) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (*saramaCollector) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaCollector) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		v := string(m.Value)
		h.mu.Lock()
		if strings.HasPrefix(v, "sarama-") && !h.seen[v] {
			h.seen[v] = true
			if len(h.seen) == h.want {
				close(h.done)
			}
		}
		h.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

func viaKafkaGo(ctx context.Context, seed, topic string, d *dialer.Dialer, n int) (int, int, error) {
	w := &kafka.Writer{Addr: kafka.TCP(seed), Topic: topic, Transport: kafkagodial.Transport(d),
		Balancer: &kafka.RoundRobin{}, BatchSize: 500, BatchTimeout: 10 * time.Millisecond}
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Value: []byte(fmt.Sprintf("kafkago-%d", i))}
	}
	err := w.WriteMessages(ctx, msgs...)
	w.Close()
	if err != nil {
		return 0, 0, err
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{seed}, GroupID: "qs-kafkago", Topic: topic,
		Dialer: kafkagodial.Dialer(d), StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	seen := map[string]bool{}
	for len(seen) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return n, len(seen), err
		}
		if v := string(m.Value); strings.HasPrefix(v, "kafkago-") {
			seen[v] = true
		}
	}
	return n, len(seen), nil
}
