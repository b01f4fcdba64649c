package resolver

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// benchZone holds n brokers: kafka-i with an A record and an SRV record
// for port 39092.
func benchZone(n int) string {
	var b strings.Builder
	b.WriteString("lb A 127.0.0.1\n")
	for i := range n {
		fmt.Fprintf(&b, "kafka-%d A 127.0.%d.%d\n_39092._tcp.kafka-%d SRV 0 0 %d lb\n", i, i/250, i%250+1, i, 20000+i)
	}
	return b.String()
}

// BenchmarkResolveCached measures Resolve once its answer is cached: well
// under a microsecond, and one allocation, the returned slice.
func BenchmarkResolveCached(b *testing.B) {
	for _, tc := range []struct{ name, addr string }{
		{"A", "kafka-7:29092"},
		{"SRV", "kafka-7:39092"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r, err := New(WithZone(benchZone(1000)))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if _, err := r.Resolve(ctx, tc.addr); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Resolve(ctx, tc.addr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResolveCachedForwarded measures a cached Resolve of a name
// that came from an upstream (another Resolver served on loopback): the
// same, plus the expiry check.
func BenchmarkResolveCachedForwarded(b *testing.B) {
	up, err := New(WithZone("kafka-7.corp. 300 A 127.0.0.7\n"))
	if err != nil {
		b.Fatal(err)
	}
	r, err := New(WithForward("corp.", serve(b, up)))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "kafka-7.corp:29092"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(ctx, "kafka-7.corp:29092"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolveCachedParallel is the same from every core at once.
func BenchmarkResolveCachedParallel(b *testing.B) {
	r, err := New(WithZone(benchZone(1000)))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	r.Resolve(ctx, "kafka-7:29092")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Resolve(ctx, "kafka-7:29092")
		}
	})
}

// BenchmarkServeDNS measures answering one question from zone data, packing
// included (what a served query costs besides the socket).
func BenchmarkServeDNS(b *testing.B) {
	r, err := New(WithZone(benchZone(1000)))
	if err != nil {
		b.Fatal(err)
	}
	req := new(dns.Msg)
	req.SetQuestion("kafka-7.", dns.TypeA)
	w := &recorder{network: "udp"}
	b.ReportAllocs()
	for b.Loop() {
		w.msgs = w.msgs[:0]
		r.ServeDNS(w, req)
		if _, err := w.msgs[0].Pack(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestResolveCachedAllocs(t *testing.T) {
	r, err := New(WithZone(benchZone(10)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, addr := range []string{"kafka-3:29092", "kafka-3:39092"} {
		r.Resolve(ctx, addr)
		if n := testing.AllocsPerRun(100, func() { r.Resolve(ctx, addr) }); n != 1 {
			t.Errorf("cached Resolve(%q) allocates %v times, want 1 (the returned slice)", addr, n)
		}
	}
}
