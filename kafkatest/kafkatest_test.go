package kafkatest

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestClusterAdvertisesNamesBehindForwarders(t *testing.T) {
	c, err := Start(WithBrokers(2), WithAdvertise("b-{id}.invalid:9092"), WithTopic("t", 3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Brokers) != 2 || c.Seed() != c.Brokers[0].Published {
		t.Fatalf("brokers %+v", c.Brokers)
	}
	for i, b := range c.Brokers {
		if b.Published == "" || b.Published == b.Listen || !strings.HasPrefix(b.Published, "127.0.0.1:") {
			t.Errorf("broker %d: published %q, listen %q", i, b.Published, b.Listen)
		}
	}
	want := "b-1.invalid:9092 => " + c.Brokers[0].Published + "\nb-2.invalid:9092 => " + c.Brokers[1].Published +
		"\n" + c.Brokers[0].Published + " => =\n" + c.Brokers[1].Published + " => =\n"
	if got := c.Rules(); got != want {
		t.Errorf("Rules() = %q, want %q", got, want)
	}

	// Metadata fetched through the published seed names the advertised
	// addresses, as a Docker broker's would.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seed()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, b := range resp.Brokers {
		got[net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))] = true
	}
	if !got["b-1.invalid:9092"] || !got["b-2.invalid:9092"] || len(got) != 2 {
		t.Errorf("metadata advertises %v", got)
	}
}

func TestForwarderClosesConnections(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	f, err := Forward("127.0.0.1:0", echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", f.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("through the forwarder: %q %v", buf, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(buf); err == nil {
		t.Error("connection survived the forwarder's Close")
	}
	if _, err := net.Dial("tcp", f.Addr()); err == nil {
		t.Error("forwarder still accepts after Close")
	}
}

func TestStartReportsOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		opts []Option
		want string
	}{
		{[]Option{WithBrokers(0)}, "WithBrokers(0): the number of brokers must be from 1 to 64"},
		{[]Option{WithBrokers(-2)}, "WithBrokers(-2)"},
		{[]Option{WithBrokers(65)}, "WithBrokers(65)"},
		{[]Option{WithTopic("t", 0)}, `WithTopic("t", 0): a topic needs at least 1 partition`},
		{[]Option{WithTopic("", 1)}, "empty topic name"},
		{[]Option{WithAdvertise("kafka-{id}")}, `WithAdvertise("kafka-{id}"): want host:port`},
		{[]Option{WithAdvertise("kafka-{id}:0")}, "port 0 cannot be advertised"},
		{[]Option{WithAdvertise(":9092")}, "empty host"},
		{[]Option{WithListen("127.0.0.1:http")}, `port "http" is not a number`},
		{[]Option{WithPublish("127.0.0.1:70000")}, `port "70000"`},
		{[]Option{WithPublishPorts(-1)}, "WithPublishPorts(-1)"},
		{[]Option{WithPublishPorts(65534)}, "broker 3 would be published on port 65537"},
		{[]Option{WithPublishPorts(65530), WithBrokers(6)}, "broker 6 would be published on port 65536"},
		{[]Option{WithTLS(nil)}, "WithTLS(nil)"},
		{[]Option{WithTopic("t", 1), WithTopic("t", 2)}, `WithTopic("t"): topic given twice`},
		{[]Option{WithBrokers(1), WithBrokers(2)}, "WithBrokers given twice with different values"},
		{[]Option{WithAdvertise("a-{id}:1"), WithAdvertise("b-{id}:1")}, "WithAdvertise given twice"},
		{[]Option{WithPublish(""), WithPublishPorts(20000)}, "WithPublish and WithPublishPorts both given"},
	} {
		// In either order.
		for _, opts := range [][]Option{tc.opts, {tc.opts[len(tc.opts)-1], tc.opts[0]}} {
			c, err := Start(opts...)
			if err == nil {
				c.Close()
				t.Errorf("%s: Start succeeded", tc.want)
				continue
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "kafkatest: ") {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		}
	}
}

// A nil option is ignored; the order of options does not change the
// cluster; the same value twice is no conflict.
func TestOptionContract(t *testing.T) {
	orders := [][]Option{
		{nil, WithBrokers(2), WithAdvertise("b-{id}.invalid:9092"), WithPublish(""), WithTopic("t", 2), WithBrokers(2)},
		{WithTopic("t", 2), WithPublish(""), nil, WithAdvertise("b-{id}.invalid:9092"), WithBrokers(2)},
	}
	for i, opts := range orders {
		c, err := Start(opts...)
		if err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
		if len(c.Brokers) != 2 || c.Brokers[1].Advertised != "b-2.invalid:9092" || c.Brokers[0].Published != "" {
			t.Errorf("order %d: brokers %+v", i, c.Brokers)
		}
		c.Close()
	}
}

func TestDeprecatedNamesStillWork(t *testing.T) {
	// Code written against the old names keeps compiling and working.
	c, err := Start(Brokers(1), Publish(""), Advertise("old-{id}:1"), Listen("127.0.0.1:0"), Topic("t", 1), Kfake())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Brokers) != 1 || c.Brokers[0].Published != "" || c.Brokers[0].Advertised != "old-1:1" {
		t.Errorf("brokers %+v", c.Brokers)
	}
	if _, err := Start(TLS(nil)); err == nil || !strings.Contains(err.Error(), "WithTLS(nil)") {
		t.Errorf("TLS(nil): %v", err)
	}
	if _, err := Start(PublishPorts(-1)); err == nil || !strings.Contains(err.Error(), "WithPublishPorts(-1)") {
		t.Errorf("PublishPorts(-1): %v", err)
	}
}
