package dialer

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"golang.org/x/net/proxy"
)

// ruleSet builds n rules of the three kinds PerHost also holds: exact hosts,
// zones (*.zone) and CIDR prefixes, in equal parts, and the same entries as
// a PerHost.
func ruleSet(n int) (string, *proxy.PerHost) {
	var b strings.Builder
	ph := proxy.NewPerHost(nopDialer{}, nopDialer{})
	for i := 0; i < n; i++ {
		switch i % 3 {
		case 0:
			host := fmt.Sprintf("broker-%d.example", i)
			fmt.Fprintf(&b, "%s => 127.0.0.1:9092\n", host)
			ph.AddHost(host)
		case 1:
			zone := fmt.Sprintf("zone-%d.example", i)
			fmt.Fprintf(&b, "*.%s => 127.0.0.1:9092\n", zone)
			ph.AddZone(zone)
		case 2:
			cidr := fmt.Sprintf("10.%d.%d.0/24", i>>8&255, i&255)
			fmt.Fprintf(&b, "%s => 127.0.0.1:9092\n", cidr)
			_, ipnet, _ := net.ParseCIDR(cidr)
			ph.AddNetwork(ipnet)
		}
	}
	return b.String(), ph
}

// nopDialer lets PerHost's lookup be timed without a connection.
type nopDialer struct{}

func (nopDialer) Dial(network, addr string) (net.Conn, error) { return nil, nil }
func (nopDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return nil, nil
}

// lastOf returns addresses that hit the last rule of each kind, and a miss.
func lastOf(n int) map[string]string {
	last := func(kind int) int {
		i := n - 1
		for i%3 != kind {
			i--
		}
		return i
	}
	e, z, c := last(0), last(1), last(2)
	return map[string]string{
		"exact": fmt.Sprintf("broker-%d.example:9092", e),
		"zone":  fmt.Sprintf("b-1.zone-%d.example:9092", z),
		"cidr":  fmt.Sprintf("10.%d.%d.7:9092", c>>8&255, c&255),
		"miss":  "nowhere.example:9092",
	}
}

func BenchmarkRoute(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		text, ph := ruleSet(n)
		d, err := New(WithRules(text))
		if err != nil {
			b.Fatal(err)
		}
		for _, kind := range []string{"exact", "zone", "cidr", "miss"} {
			addr := lastOf(n)[kind]
			if rt, _ := d.Route(addr); (rt.Rule == "") != (kind == "miss") {
				b.Fatalf("%s: %+v", addr, rt)
			}
			b.Run(fmt.Sprintf("rules=%d/hit=%s/impl=kafkadial", n, kind), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := d.Route(addr); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("rules=%d/hit=%s/impl=PerHost", n, kind), func(b *testing.B) {
				b.ReportAllocs()
				ctx := context.Background()
				for b.Loop() {
					ph.DialContext(ctx, "tcp", addr)
				}
			})
		}
		d.Close()
	}
}

// BenchmarkDial compares a dial of a direct route with a bare net.Dialer to
// the same loopback listener.
func BenchmarkDial(b *testing.B) {
	srv := echoServer(b, nil)
	d, err := New(WithRules("kafka-1:29092 => " + srv))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	run := func(b *testing.B, dial func() (net.Conn, error)) {
		b.ReportAllocs()
		for b.Loop() {
			c, err := dial()
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	}
	var nd net.Dialer
	b.Run("impl=net.Dialer", func(b *testing.B) {
		run(b, func() (net.Conn, error) { return nd.DialContext(ctx, "tcp", srv) })
	})
	b.Run("impl=kafkadial", func(b *testing.B) {
		run(b, func() (net.Conn, error) { return d.DialContext(ctx, "tcp", "kafka-1:29092") })
	})
}
