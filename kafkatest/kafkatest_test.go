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
	c, err := Start(Brokers(2), Advertise("b-{id}.invalid:9092"), Topic("t", 3))
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
		opt  Option
		want string
	}{
		{Brokers(0), "Brokers(0): the number of brokers must be from 1 to 64"},
		{Brokers(-2), "Brokers(-2)"},
		{Brokers(65), "Brokers(65)"},
		{Topic("t", 0), `Topic("t", 0): a topic needs at least 1 partition`},
		{Topic("", 1), "empty topic name"},
		{Advertise("kafka-{id}"), `Advertise("kafka-{id}"): want host:port`},
		{Advertise("kafka-{id}:0"), "port 0 cannot be advertised"},
		{Advertise(":9092"), "empty host"},
		{Listen("127.0.0.1:http"), `port "http" is not a number`},
		{Publish("127.0.0.1:70000"), `port "70000"`},
		{PublishPorts(-1), "PublishPorts(-1)"},
		{PublishPorts(65534), "broker 3 would be published on port 65537"},
		{TLS(nil), "TLS(nil)"},
		{nil, "nil option"},
	} {
		c, err := Start(tc.opt)
		if err == nil {
			c.Close()
			t.Errorf("%s: Start succeeded", tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "kafkatest: ") {
			t.Errorf("error %q, want it to contain %q", err, tc.want)
		}
	}
	if _, err := Start(Topic("t", 1), Topic("t", 2)); err == nil || !strings.Contains(err.Error(), `Topic("t"): topic given twice`) {
		t.Errorf("duplicate topic: %v", err)
	}
}

func TestDeprecatedOptStillWorks(t *testing.T) {
	// Code written against the old name keeps compiling and working.
	opts := []Opt{Brokers(1), Publish("")}
	c, err := Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Brokers) != 1 || c.Brokers[0].Published != "" || c.Brokers[0].Advertised != "kafka-1:29092" {
		t.Errorf("brokers %+v", c.Brokers)
	}
}
