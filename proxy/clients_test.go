package proxy

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The client here has no kafkadial code in it: it bootstraps from the
// proxy, and the brokers' advertised names do not resolve, so every
// connection it makes goes through the proxy's listeners. sarama, kafka-go
// and the clients that are not Go do the same in the integration module
// (TestProxyClients), so that this module requires no client but franz-go.

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
