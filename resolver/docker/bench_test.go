package docker

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/dockertest"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// benchTable is a resolver over n containers kafka-0..kafka-(n-1), each on
// a network with an alias and a published port. It has no engine client at
// all: a Resolve that called the engine would crash the benchmark, so a
// hit that completes made no engine call.
func benchTable(n int, publishedOnly bool) *Resolver {
	var specs []spec
	for i := range n {
		specs = append(specs, spec{
			id:       fmt.Sprintf("%064x", i+1),
			name:     fmt.Sprintf("proj-kafka-%d-1", i),
			hostname: fmt.Sprintf("%012x", i+1),
			labels:   map[string]string{"com.docker.compose.service": fmt.Sprintf("kafka-%d", i)},
			networks: map[string]netSpec{"proj_default": {ip: netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}).String(), aliases: []string{fmt.Sprintf("kafka-%d", i)}}},
			bindings: map[string][]network.PortBinding{"29092/tcp": {bind("127.0.0.1", fmt.Sprint(32768+i%20000))}},
		})
	}
	why := ""
	if publishedOnly {
		why = "WithPublishedOnly"
	}
	return offline(hosts{}, publishedOnly, why, specs...)
}

// BenchmarkResolve: a hit by alias among 10 and 1,000 containers (the
// published port, then the container address), the same under
// WithPublishedOnly (one candidate), and a miss (not found).
func BenchmarkResolve(b *testing.B) {
	for _, n := range []int{10, 1000} {
		for _, tc := range []struct {
			name string
			po   bool
			addr string
		}{
			{"hit", false, fmt.Sprintf("kafka-%d:29092", n-1)},
			{"hit-published-only", true, fmt.Sprintf("kafka-%d:29092", n-1)},
			{"miss", false, "kafka-x:29092"},
		} {
			b.Run(fmt.Sprintf("containers=%d/%s", n, tc.name), func(b *testing.B) {
				r := benchTable(n, tc.po)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					r.Resolve(ctx, tc.addr)
				}
			})
		}
	}
}

// BenchmarkRoute: dialer.Route for one advertised address, answered by a
// static rule beside answered by the Docker resolver (no rule matches),
// through the same dialer code.
func BenchmarkRoute(b *testing.B) {
	rules, err := dialer.New(dialer.WithRules("kafka-9:29092 => 127.0.0.1:32777"))
	if err != nil {
		b.Fatal(err)
	}
	defer rules.Close()
	res, err := dialer.New(dialer.WithResolver(benchTable(10, false)))
	if err != nil {
		b.Fatal(err)
	}
	defer res.Close()
	for _, tc := range []struct {
		name string
		d    *dialer.Dialer
	}{{"impl=rule", rules}, {"impl=docker", res}} {
		b.Run(tc.name, func(b *testing.B) {
			if rt, err := tc.d.Route("kafka-9:29092"); err != nil || rt.Rule == "" {
				b.Fatalf("Route = %+v, %v", rt, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				tc.d.Route("kafka-9:29092")
			}
		})
	}
}

// BenchmarkEventToRoute measures, against the real engine, how long after
// the engine emits a container's "start" event the resolver answers with
// the port it published on that start: each iteration stops and starts a
// container published on a random port, reads the start event's own
// timestamp from a second event subscription, and polls Resolve until the
// new port comes first. Reported: the median and the worst delay.
func BenchmarkEventToRoute(b *testing.B) {
	e := dockertest.Need(b)
	img := e.Image(tcpname)
	n := e.Network("bench")
	c := e.Start("--name", e.Name("bench"), "--network", n.Name, "--network-alias", "kafka-bench", "-p", "127.0.0.1::29092", img, "29092")
	r := newResolver(b, WithHost(e.Host))
	cli, err := client.New(client.WithHost(e.Host))
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := cli.Events(ctx, client.EventsListOptions{Filters: make(client.Filters).Add("container", c).Add("event", "start")})
	var delays []time.Duration
	for b.Loop() {
		b.StopTimer()
		e.Must("stop", "-t", "1", c)
		b.StartTimer()
		e.Must("start", c)
		var m events.Message
		select {
		case m = <-sub.Messages:
		case err := <-sub.Err:
			b.Fatal(err)
		case <-time.After(30 * time.Second):
			b.Fatal("no start event")
		}
		b.StopTimer()
		pub := e.Published(c, 29092)
		for {
			got, err := r.Resolve(ctx, "kafka-bench:29092")
			if err == nil && got[0] == pub {
				break
			}
			if time.Since(time.Unix(0, m.TimeNano)) > 30*time.Second {
				b.Fatalf("the resolver never answered %s: %v %v", pub, got, err)
			}
			time.Sleep(50 * time.Microsecond)
		}
		// When the table changed, not when this loop noticed it.
		delays = append(delays, time.Unix(0, r.updated.Load()).Sub(time.Unix(0, m.TimeNano)))
		b.StartTimer()
	}
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	b.ReportMetric(float64(delays[len(delays)/2].Microseconds()), "µs-median-event-to-route")
	b.ReportMetric(float64(delays[len(delays)-1].Microseconds()), "µs-max-event-to-route")
}
