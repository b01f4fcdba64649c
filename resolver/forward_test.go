package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/miekg/dns"
)

func TestForwardToDnsmasq(t *testing.T) {
	dm := startDnsmasq(t,
		"--host-record=kafka-1.corp,127.0.0.11",
		"--host-record=kafka-2.corp,127.0.0.12,::2",
		"--host-record=kafka-4.corp,127.0.0.14",
		"--srv-host=_39092._tcp.kafka-3.corp,kafka-1.corp,19093,0,0",
		"--cname=alias.corp,kafka-2.corp",
	)
	r, err := New(WithZone("kafka-local A 127.0.0.5\n"), WithForward("corp.", dm.Addr))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	resolve := func(addr string, want ...string) {
		t.Helper()
		got, err := r.Resolve(ctx, addr)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Resolve(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	count := func(qtype, name string, want int) {
		t.Helper()
		if n := dm.Queries(t, qtype, name); n != want {
			t.Fatalf("dnsmasq got %d %s queries for %s, want %d\n%s", n, qtype, name, want, dm.log())
		}
	}

	// A records, port kept; asked once, then from the cache.
	for range 5 {
		resolve("kafka-1.corp:29092", "127.0.0.11:29092")
	}
	if addrs, err := r.LookupHost(ctx, "kafka-1.corp"); err != nil || !slices.Equal(addrs, []string{"127.0.0.11"}) {
		t.Fatalf("LookupHost = %q, %v", addrs, err)
	}
	count("SRV", "_29092._tcp.kafka-1.corp", 1)
	count("A", "kafka-1.corp", 1)
	count("AAAA", "kafka-1.corp", 1)

	// SRV: target and port from upstream; CNAME chains; IPv4 first.
	resolve("kafka-3.corp:39092", "127.0.0.11:19093")
	resolve("alias.corp:9092", "127.0.0.12:9092", "[::2]:9092")
	resolve("kafka-local:9092", "127.0.0.5:9092") // zone data next to a forward

	// Concurrent lookups of one name make one upstream query.
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got, err := r.Resolve(ctx, "kafka-4.corp:9092")
			if err == nil && !slices.Equal(got, []string{"127.0.0.14:9092"}) {
				err = fmt.Errorf("got %q", got)
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	count("SRV", "_9092._tcp.kafka-4.corp", 1)
	count("A", "kafka-4.corp", 1)

	// Negative answers are cached too.
	for range 3 {
		_, err := r.Resolve(ctx, "nope.corp:9092")
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			t.Fatalf("Resolve(nope.corp) = %v, want not found", err)
		}
	}
	count("SRV", "_9092._tcp.nope.corp", 1)
	count("A", "nope.corp", 1)
	count("AAAA", "nope.corp", 0) // no AAAA question for a name that does not exist

	// Names outside the forward never reach dnsmasq.
	if _, err := r.Resolve(ctx, "kafka-1.other:9092"); err == nil {
		t.Fatal("kafka-1.other resolved")
	}
	count("A", "kafka-1.other", 0)

	// Served: forwarded names come from the cache, with RA and without AA.
	addr := serve(t, r)
	in := query(t, "udp", addr, "kafka-1.corp.", dns.TypeA, 0)
	if len(in.Answer) != 1 || in.Answer[0].(*dns.A).A.String() != "127.0.0.11" || !in.RecursionAvailable || in.Authoritative {
		t.Fatalf("served forwarded answer: %v", in)
	}
	if ttl := in.Answer[0].Header().Ttl; ttl == 0 || ttl > 300 {
		t.Fatalf("served TTL %d, want the remaining part of dnsmasq's 300", ttl)
	}
	count("A", "kafka-1.corp", 1)
	in = query(t, "udp", addr, "kafka-2.corp.", dns.TypeMX, 0) // a type Resolve never asks: goes upstream
	if in.Rcode != dns.RcodeSuccess || len(in.Answer) != 0 {
		t.Fatalf("MX kafka-2.corp: %v", in)
	}
	count("MX", "kafka-2.corp", 1)
	if in := query(t, "udp", addr, "example.com.", dns.TypeA, 0); in.Rcode != dns.RcodeRefused {
		t.Fatalf("example.com: %s, want REFUSED", dns.RcodeToString[in.Rcode])
	}
}

func TestForwardTCPFallback(t *testing.T) {
	var hosts strings.Builder
	for i := range 120 {
		fmt.Fprintf(&hosts, "127.0.1.%d big.corp\n", i+1)
	}
	path := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(path, []byte(hosts.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dm := startDnsmasq(t, "--addn-hosts="+path)
	r, err := New(WithForward("corp", dm.Addr))
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := r.LookupHost(context.Background(), "big.corp")
	if err != nil {
		t.Fatal(err)
	}
	// 120 A records do not fit in 1232 bytes: only TCP can carry them all.
	if len(addrs) != 120 {
		t.Fatalf("got %d addresses, want 120", len(addrs))
	}
	if n := dm.Queries(t, "A", "big.corp"); n != 2 {
		t.Fatalf("dnsmasq got %d A queries for big.corp, want 2 (UDP, truncated, then TCP)", n)
	}
}

func TestForwardNextServer(t *testing.T) {
	dm := startDnsmasq(t, "--host-record=kafka-1.corp,127.0.0.11")
	dead := silentUDP(t)
	r, err := New(WithForward("corp.", dead), WithForward("corp.", dm.Addr), WithTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Resolve(context.Background(), "kafka-1.corp:9092")
	if err != nil || !slices.Equal(got, []string{"127.0.0.11:9092"}) {
		t.Fatalf("Resolve = %q, %v; want the second server's answer", got, err)
	}
}

// silentUDP returns the address of a UDP socket that never answers: an
// upstream that is down without saying so.
func silentUDP(t testing.TB) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func TestUpstreamDown(t *testing.T) {
	const timeout = 300 * time.Millisecond
	closed, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, server string
		timeout      bool
	}{
		{"silent", silentUDP(t), true},
		{"closed port", fmt.Sprintf("127.0.0.1:%d", closed), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(WithForward("corp.", tc.server), WithTimeout(timeout))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = r.Resolve(context.Background(), "kafka-1.corp:9092")
			elapsed := time.Since(start)
			var de *net.DNSError
			if !errors.As(err, &de) || de.IsNotFound || de.IsTimeout != tc.timeout {
				t.Fatalf("Resolve = %v; want a *net.DNSError, not IsNotFound, IsTimeout %v", err, tc.timeout)
			}
			if !strings.Contains(err.Error(), tc.server) || !strings.Contains(err.Error(), "forward for corp.") {
				t.Fatalf("error %q should name the upstream and the forward", err)
			}
			if elapsed > 10*timeout {
				t.Fatalf("took %s with a %s timeout", elapsed, timeout)
			}

			// The dialer fails the dial with that error, within its
			// timeout, rather than falling back to the system resolver.
			d, err := dialer.New(dialer.WithResolver(r), dialer.WithTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.DialContext(context.Background(), "tcp", "kafka-1.corp:9092")
			var oe *net.OpError
			if !errors.As(err, &oe) || oe.Op != "dial" || !strings.Contains(err.Error(), tc.server) {
				t.Fatalf("dial = %v; want a dial *net.OpError naming %s", err, tc.server)
			}
			if _, err := d.Route("kafka-1.corp:9092"); err == nil || !strings.Contains(err.Error(), tc.server) {
				t.Fatalf("Route = %v; want the resolver's error", err)
			}
		})
	}
}
