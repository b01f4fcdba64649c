package integration

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/kafkatest"
	"github.com/kafkadial/kafkadial/resolver"
)

// brokerTable is a second resolver in front of the cluster: it knows the
// advertised address of every broker it was given, and says so in its
// detail (as resolver/docker names a container). It records what it was
// asked.
type brokerTable struct {
	published map[string]string
	mu        sync.Mutex
	asked     map[string]int
}

func (b *brokerTable) Resolve(ctx context.Context, hostport string) ([]string, error) {
	t, _, err := b.ResolveDetail(ctx, hostport)
	return t, err
}

func (b *brokerTable) ResolveDetail(_ context.Context, hostport string) ([]string, string, error) {
	b.mu.Lock()
	b.asked[hostport]++
	b.mu.Unlock()
	if p, ok := b.published[hostport]; ok {
		return []string{p}, "broker table entry " + hostport, nil
	}
	return nil, "", &net.DNSError{Err: "not in the broker table", Name: hostport, IsNotFound: true}
}

// Two resolvers chained by the dialer, no rules, strict: the DNS zone
// knows kafka-1 only (by SRV record), the broker table every broker. A
// franz-go client bootstraps by kafka-1's advertised name and produces to
// and consumes from partitions every broker leads; each address is
// answered by the first resolver that knows it, and Route.Detail comes
// from that one.
func TestResolversChainedFranz(t *testing.T) {
	c, err := kafkatest.Start(kafkatest.WithTopic(dnsTopic, dnsPartitions))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	spreadLeaders(t, c, dnsPartitions)

	_, port1, _ := net.SplitHostPort(c.Brokers[0].Published)
	zone, err := resolver.New(resolver.WithZone(fmt.Sprintf("lb A 127.0.0.1\n_29092._tcp.kafka-1 SRV 0 0 %s lb\n", port1)))
	if err != nil {
		t.Fatal(err)
	}
	table := &brokerTable{published: map[string]string{}, asked: map[string]int{}}
	for _, b := range c.Brokers {
		table.published[b.Advertised] = b.Published
	}
	d, err := dialer.New(dialer.WithResolver(zone, table), dialer.WithStrict(), dialer.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })

	for i, b := range c.Brokers {
		rt, err := d.Route(b.Advertised)
		wantDetail := "broker table entry " + b.Advertised
		if i == 0 {
			wantDetail = "" // the zone answered: a resolver.Resolver gives no detail
		}
		if err != nil || rt.Origin != dialer.OriginResolver || rt.Rule != "" || rt.Target != b.Published || rt.Detail != wantDetail {
			t.Fatalf("Route(%s) = %+v, %v; want %s from the resolver, detail %q", b.Advertised, rt, err, b.Published, wantDetail)
		}
	}
	if table.asked[c.Brokers[0].Advertised] != 0 {
		t.Fatalf("the broker table was asked about %s, which the zone answers first", c.Brokers[0].Advertised)
	}

	testFranz(t, c.Brokers[0].Advertised, "chained-franz", 300, franzdial.Opt(d))

	// Every broker other than kafka-1 was reached through the table.
	table.mu.Lock()
	var missing []string
	for _, b := range c.Brokers[1:] {
		if table.asked[b.Advertised] < 2 { // once by Route above, then by the client's dials
			missing = append(missing, b.Advertised)
		}
	}
	asked := fmt.Sprint(table.asked)
	first := table.asked[c.Brokers[0].Advertised]
	table.mu.Unlock()
	if len(missing) > 0 || first != 0 {
		t.Fatalf("broker table asked %s; want every broker but kafka-1 dialled through it, kafka-1 never", asked)
	}
	if _, err := d.Dial("tcp", "kafka-9:29092"); err == nil || !strings.Contains(err.Error(), "strict") {
		t.Fatalf("dial of a name neither resolver knows = %v; want refused (strict)", err)
	}
}
