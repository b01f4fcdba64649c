package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/kafkatest"
)

var dnsClients = []struct {
	name string
	run  func(*testing.T, *dialer.Dialer, string, string)
}{
	{"sarama", dnsSarama},
	{"franz-go", dnsFranz},
	{"kafka-go", dnsKafkaGo},
}

// By A records: each broker has an address of its own and keeps the
// advertised port, as containers on a Docker network do. The published
// forwarders stand on loopback addresses of their own (127.X.Y.N:29092),
// unique to this process, with the advertised port.
func TestResolverClientsByA(t *testing.T) {
	lo := fmt.Sprintf("127.%d.%d.", 50+os.Getpid()%150, os.Getpid()/150%250)
	c, err := kafkatest.Start(kafkatest.WithTopic(dnsTopic, dnsPartitions), kafkatest.WithPublish(lo+"{id}:29092"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	spreadLeaders(t, c, dnsPartitions)
	var zone strings.Builder
	for i, b := range c.Brokers {
		fmt.Fprintf(&zone, "kafka-%d A %s%d\n", i+1, lo, i+1)
		if want := fmt.Sprintf("kafka-%d:29092", i+1); b.Advertised != want {
			t.Fatalf("broker advertises %s, want %s", b.Advertised, want)
		}
	}
	_, d := dnsResolverDialer(t, zone.String())
	for i := range c.Brokers {
		rt, err := d.Route(fmt.Sprintf("kafka-%d:29092", i+1))
		want := fmt.Sprintf("%s%d:29092", lo, i+1)
		if err != nil || rt.Rule != "" || rt.Origin != dialer.OriginResolver || rt.Target != want || rt.ServerName != fmt.Sprintf("kafka-%d", i+1) {
			t.Fatalf("Route = %+v, %v; want target %s by the resolver", rt, err, want)
		}
	}
	for _, cl := range dnsClients {
		// Bootstrap by the advertised name too: the resolver answers it.
		t.Run(cl.name, func(t *testing.T) { cl.run(t, d, "kafka-1:29092", "a-"+cl.name) })
	}
}

// By SRV records: every broker is published on its own loopback port, and
// an SRV record at _29092._tcp.kafka-N says which. kafka-1's best record
// points at a port where nothing listens, so its dials show that candidates
// are tried in order.
func TestResolverClientsBySRV(t *testing.T) {
	c, err := kafkatest.Start(kafkatest.WithTopic(dnsTopic, dnsPartitions))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	spreadLeaders(t, c, dnsPartitions)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := dead.Addr().(*net.TCPAddr).Port
	dead.Close()
	zone := "lb A 127.0.0.1\n"
	zone += fmt.Sprintf("_29092._tcp.kafka-1 SRV 0 0 %d lb\n", deadPort)
	for i, b := range c.Brokers {
		_, port, _ := net.SplitHostPort(b.Published)
		zone += fmt.Sprintf("_29092._tcp.kafka-%d SRV 10 0 %s lb\n", i+1, port)
	}
	_, d := dnsResolverDialer(t, zone)
	rt, err := d.Route("kafka-2:29092")
	if err != nil || rt.Rule != "" || rt.Origin != dialer.OriginResolver || rt.Target != c.Brokers[1].Published {
		t.Fatalf("Route(kafka-2) = %+v, %v; want %s", rt, err, c.Brokers[1].Published)
	}
	conn, err := d.DialContext(context.Background(), "tcp", "kafka-1:29092")
	if err != nil {
		t.Fatalf("dial kafka-1 (dead candidate first): %v", err)
	}
	if got := conn.RemoteAddr().String(); got != c.Brokers[0].Published {
		t.Fatalf("kafka-1 dialled %s, want %s after the dead candidate", got, c.Brokers[0].Published)
	}
	conn.Close()
	for _, cl := range dnsClients {
		t.Run(cl.name, func(t *testing.T) { cl.run(t, d, "kafka-1:29092", "srv-"+cl.name) })
	}
}

// kcat (librdkafka) knows nothing of kafkadial: it resolves broker names
// with the system resolver. In a network namespace whose resolv.conf points
// at `kafkadial dns serve`, it produces and consumes through brokers that
// exist only under those names: they listen on 198.18.ID.1-3:29092, on the
// host side of the namespace's veth pair.
func TestKcatThroughDNSServe(t *testing.T) {
	n := startDNSNetns(t)
	c, err := kafkatest.Start(
		kafkatest.WithTopic(dnsTopic, 3),
		kafkatest.WithListen(n.prefix+"{id}:29092"),
		kafkatest.WithPublish(""),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	spreadLeaders(t, c, 3)
	zone := filepath.Join(n.dir, "brokers.zone")
	var text strings.Builder
	for i := range c.Brokers {
		fmt.Fprintf(&text, "kafka-%d A %s%d\n", i+1, n.prefix, i+1)
	}
	if err := os.WriteFile(zone, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	bin := buildKafkadial(t, n.dir)
	srv := startDNSServe(t, n, bin, zone)
	t.Logf("kafkadial built and serving in %s", time.Since(start).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kcatRoundTrip(t, func(args ...string) *exec.Cmd { return n.command(ctx, "kcat", args...) }, dnsTopic, 3, srv)
	// librdkafka looked up every broker's name through kafkadial dns serve.
	log := srv.output()
	for i := range c.Brokers {
		if !strings.Contains(log, fmt.Sprintf("name=kafka-%d. type=A rcode=NOERROR", i+1)) {
			t.Fatalf("kafkadial dns serve never answered A kafka-%d:\n%s", i+1, log)
		}
	}
	srv.stop(t)
}
