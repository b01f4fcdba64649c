package proxy

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The clients here have no kafkadial code in them: they bootstrap from the
// proxy, and the brokers' advertised names do not resolve, so every
// connection a client makes goes through the proxy's listeners.

const records = 30

func wantLocal(t *testing.T, p *Proxy, addrs []string) {
	t.Helper()
	local := map[string]bool{}
	for _, l := range p.Listeners() {
		local[l.Local] = true
	}
	if len(addrs) != 3 {
		t.Errorf("%d brokers listed, want 3: %v", len(addrs), addrs)
	}
	for _, a := range addrs {
		if !local[a] {
			t.Errorf("broker listed at %s, not a proxy listener (%v)", a, p.Listeners())
		}
	}
}

func values(prefix string) []string {
	var vs []string
	for i := range records {
		vs = append(vs, fmt.Sprintf("%s-%03d", prefix, i))
	}
	return vs
}

func TestFranzGo(t *testing.T) {
	c := startCluster(t, 3)
	p, _ := startProxy(t, c)
	boot := p.Listeners()[0].Local
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	prod, err := kgo.NewClient(kgo.SeedBrokers(boot), kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for _, v := range values("kgo") {
		prod.Produce(ctx, &kgo.Record{Value: []byte(v)}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// acks=0 through the proxy too: no response comes, nothing stalls.
	fire, err := kgo.NewClient(kgo.SeedBrokers(boot), kgo.DefaultProduceTopic("t"), kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer fire.Close()
	for _, v := range values("kgo-acks0") {
		fire.Produce(ctx, &kgo.Record{Value: []byte(v)}, nil)
	}
	if err := fire.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(boot), kgo.ConsumerGroup("g-kgo"), kgo.ConsumeTopics("t"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := map[string]int{}
	for len(got) < 2*records {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(got), 2*records, err)
		}
		fs.EachError(func(topic string, part int32, err error) { t.Errorf("fetch %s/%d: %v", topic, part, err) })
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)]++ })
	}
	for v, n := range got {
		if n != 1 {
			t.Errorf("record %s consumed %d times", v, n)
		}
	}
	t.Logf("consumed %d records", len(got))
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}

	wantLocal(t, p, kgoMetadata(t, ctx, cons))
}

func kgoMetadata(t *testing.T, ctx context.Context, cl *kgo.Client) []string {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, b := range resp.Brokers {
		addrs = append(addrs, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
	}
	return addrs
}

func TestSarama(t *testing.T) {
	c := startCluster(t, 3)
	p, _ := startProxy(t, c)
	boot := p.Listeners()[0].Local

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Net.DialTimeout = 5 * time.Second

	prod, err := sarama.NewSyncProducer([]string{boot}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range values("sarama") {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "t", Value: sarama.StringEncoder(v)}); err != nil {
			t.Fatal(err)
		}
	}
	prod.Close()

	group, err := sarama.NewConsumerGroup([]string{boot}, "g-sarama", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := &saramaHandler{want: records, got: map[string]int{}, done: cancel}
	for ctx.Err() == nil {
		if err := group.Consume(ctx, []string{"t"}, h); err != nil && ctx.Err() == nil {
			t.Fatal(err)
		}
	}
	if len(h.got) != records {
		t.Fatalf("consumed %d distinct records, want %d", len(h.got), records)
	}
	for v, n := range h.got {
		if n != 1 {
			t.Errorf("record %s consumed %d times", v, n)
		}
	}

	client, err := sarama.NewClient([]string{boot}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var addrs []string
	for _, b := range client.Brokers() {
		addrs = append(addrs, b.Addr())
	}
	wantLocal(t, p, addrs)
}

type saramaHandler struct {
	mu   sync.Mutex
	want int
	got  map[string]int
	done func()
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock() // ConsumeClaim runs per partition, concurrently
		h.got[string(m.Value)]++
		if len(h.got) == h.want {
			h.done()
		}
		h.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

func TestKafkaGo(t *testing.T) {
	c := startCluster(t, 3)
	p, _ := startProxy(t, c)
	boot := p.Listeners()[0].Local
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	w := &kafkago.Writer{Addr: kafkago.TCP(boot), Topic: "t", Balancer: &kafkago.RoundRobin{}, RequiredAcks: kafkago.RequireAll}
	var msgs []kafkago.Message
	for _, v := range values("kafkago") {
		msgs = append(msgs, kafkago.Message{Value: []byte(v)})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()

	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{boot}, GroupID: "g-kafkago", Topic: "t",
		StartOffset: kafkago.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	got := map[string]int{}
	for len(got) < records {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("consumed %d of %d: %v", len(got), records, err)
		}
		got[string(m.Value)]++
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for v, n := range got {
		if n != 1 {
			t.Errorf("record %s consumed %d times", v, n)
		}
	}

	conn, err := kafkago.DialContext(ctx, "tcp", boot)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bs, err := conn.Brokers()
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, b := range bs {
		addrs = append(addrs, net.JoinHostPort(b.Host, strconv.Itoa(b.Port)))
	}
	slices.Sort(addrs)
	wantLocal(t, p, addrs)
	for _, a := range addrs {
		if strings.Contains(a, upstreamSuffix) {
			t.Errorf("upstream address leaked: %s", a)
		}
	}
}
