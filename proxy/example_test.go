package proxy_test

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/proxy"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// advertised makes a kfake broker advertise a name no resolver knows, as
// brokers in Kubernetes do, while it listens on a loopback port.
type advertised struct {
	net.Listener
	name string
}

func (l advertised) Addr() net.Addr { return addr(l.name) }

type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }

// A proxy in front of brokers that advertise kafka-N.kafka.invalid:9092,
// which only the dialer's rules reach: a client with no kafkadial code in
// it bootstraps from the proxy and sees every broker at a local address.
func Example() {
	var rules strings.Builder
	n := 0
	cluster, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.ListenFn(func(network, _ string) (net.Listener, error) {
		ln, err := net.Listen(network, "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("kafka-%d.kafka.invalid:9092", n)
		n++
		fmt.Fprintf(&rules, "%s => %s\n", name, ln.Addr())
		return advertised{ln, name}, nil
	}))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()

	d, err := dialer.New(dialer.WithRules(rules.String()), dialer.WithStrict())
	if err != nil {
		panic(err)
	}
	defer d.Close()
	p, err := proxy.New("kafka-0.kafka.invalid:9092", d, proxy.WithListen("127.0.0.1:0")) // port 0: any free ports
	if err != nil {
		panic(err)
	}
	defer p.Close()
	if err := p.Start(context.Background()); err != nil {
		panic(err)
	}
	for _, l := range p.Listeners() {
		fmt.Printf("node %d: %s\n", l.NodeID, l.Advertised)
	}

	client, err := kgo.NewClient(kgo.SeedBrokers(p.Listeners()[0].Local))
	if err != nil {
		panic(err)
	}
	defer client.Close()
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(context.Background(), client)
	if err != nil {
		panic(err)
	}
	for _, b := range md.Brokers {
		fmt.Printf("the client sees node %d at %s\n", b.NodeID, b.Host)
	}
	// Output:
	// node -1: kafka-0.kafka.invalid:9092
	// node 0: kafka-0.kafka.invalid:9092
	// node 1: kafka-1.kafka.invalid:9092
	// node 2: kafka-2.kafka.invalid:9092
	// the client sees node 0 at 127.0.0.1
	// the client sees node 1 at 127.0.0.1
	// the client sees node 2 at 127.0.0.1
}
