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
	"testing"
	"time"

	"github.com/miekg/dns"
)

const testZone = `
$TTL 300
kafka-1                  A     127.0.0.11
kafka-1                  AAAA  ::1
kafka-2                  A     127.0.0.12
kafka-2                  A     127.0.0.22
_39092._tcp.kafka-3      SRV   0 0 39094 lb
_39092._tcp.kafka-3      SRV   10 0 39095 lb2
lb                       A     127.0.0.1
lb2                      A     127.0.0.2
alias                    CNAME kafka-2
alias2                   CNAME alias
down                     SRV   0 0 1 .
_9092._tcp.down          SRV   0 0 0 .
kafka.internal.          SOA   ns.kafka.internal. admin.kafka.internal. 1 60 60 60 30
b-1.kafka.internal.      A     127.0.0.31
`

func newTest(t testing.TB, opts ...Option) *Resolver {
	t.Helper()
	r, err := New(append([]Option{WithZone(testZone)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestResolveZone(t *testing.T) {
	r := newTest(t)
	ctx := context.Background()
	for _, tc := range []struct {
		addr string
		want []string
	}{
		{"kafka-1:29092", []string{"127.0.0.11:29092", "[::1]:29092"}},
		{"KAFKA-1.:29092", []string{"127.0.0.11:29092", "[::1]:29092"}},
		{"kafka-2:29092", []string{"127.0.0.12:29092", "127.0.0.22:29092"}},
		{"kafka-3:39092", []string{"127.0.0.1:39094", "127.0.0.2:39095"}}, // SRV: target and port, by priority
		{"alias:9092", []string{"127.0.0.12:9092", "127.0.0.22:9092"}},    // CNAME followed
		{"alias2:9092", []string{"127.0.0.12:9092", "127.0.0.22:9092"}},   // chain of two
		{"b-1.kafka.internal:9092", []string{"127.0.0.31:9092"}},
	} {
		for range 2 { // the second time from the cache
			got, err := r.Resolve(ctx, tc.addr)
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tc.addr, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Resolve(%q) = %q, want %q", tc.addr, got, tc.want)
			}
		}
	}
}

func TestResolveNotFound(t *testing.T) {
	r := newTest(t)
	ctx := context.Background()
	for _, tc := range []struct{ addr, msg string }{
		{"kafka-3:29092", "no such host"},               // an empty non-terminal: no address
		{"kafka-9:29092", "not in any zone or forward"}, // outside everything: refused
		{"b-9.kafka.internal:9092", "no such host"},     // NXDOMAIN inside the zone
		{"x.kafka-1:9092", "no such host"},              // below a name with records
		{"127.0.0.1:9092", "an IP address"},             // nothing to resolve
		{"[::1]:9092", "an IP address"},                 //
		{"down:9092", "service is not available"},       // SRV target "."
	} {
		_, err := r.Resolve(ctx, tc.addr)
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound || !errors.Is(err, ErrNotFound) {
			t.Fatalf("Resolve(%q) = %v, want a not-found *net.DNSError", tc.addr, err)
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Resolve(%q) error %q does not say %q", tc.addr, err, tc.msg)
		}
	}
	for _, addr := range []string{"kafka-1", "kafka-1:", "kafka-1:x", "kafka-1:0", "kafka-1:70000", ":9092"} {
		if _, err := r.Resolve(ctx, addr); err == nil {
			t.Errorf("Resolve(%q) succeeded", addr)
		}
	}
}

func TestResolveSRVWeights(t *testing.T) {
	r, err := New(WithZone(`
_9092._tcp.k  SRV 0 90 1 a
_9092._tcp.k  SRV 0 10 2 b
_9092._tcp.k  SRV 5 0  3 c
a A 127.0.0.1
b A 127.0.0.2
c A 127.0.0.3
`))
	if err != nil {
		t.Fatal(err)
	}
	first := map[string]int{}
	const n = 2000
	for range n {
		got, err := r.Resolve(context.Background(), "k:9092")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[2] != "127.0.0.3:3" {
			t.Fatalf("got %q: the priority-5 record must come last", got)
		}
		first[got[0]]++
	}
	// Weight 90 against 10: a comes first about 90% of the time.
	if a := first["127.0.0.1:1"]; a < n*80/100 || a > n*97/100 {
		t.Fatalf("a first %d times of %d, want about 90%%: %v", a, n, first)
	}
	if first["127.0.0.2:2"] == 0 {
		t.Fatalf("b never first: %v", first)
	}
}

func TestSearchDomains(t *testing.T) {
	r, err := New(WithZone("kafka-1.corp.example. A 127.0.0.5\nkafka-2. A 127.0.0.6\n"),
		WithSearch("corp.example", "other.example."))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got, err := r.Resolve(ctx, "kafka-1:9092")
	if err != nil || !slices.Equal(got, []string{"127.0.0.5:9092"}) {
		t.Fatalf("kafka-1 via search: %q, %v", got, err)
	}
	got, err = r.Resolve(ctx, "kafka-2:9092") // the single-label name itself, after the search list
	if err != nil || !slices.Equal(got, []string{"127.0.0.6:9092"}) {
		t.Fatalf("kafka-2: %q, %v", got, err)
	}
	if _, err := r.Resolve(ctx, "kafka-1.:9092"); err == nil {
		t.Fatal("a rooted name must not use the search list")
	}
	addrs, err := r.LookupHost(ctx, "kafka-1")
	if err != nil || !slices.Equal(addrs, []string{"127.0.0.5"}) {
		t.Fatalf("LookupHost(kafka-1) = %q, %v", addrs, err)
	}
	_, err = r.LookupHost(ctx, "kafka-9")
	if err == nil || !strings.Contains(err.Error(), "kafka-9.corp.example.") {
		t.Fatalf("LookupHost(kafka-9) error %v should list the names tried", err)
	}
	if addrs, err := r.LookupHost(ctx, "::1"); err != nil || !slices.Equal(addrs, []string{"::1"}) {
		t.Fatalf("LookupHost(::1) = %q, %v", addrs, err)
	}
}

func TestZoneErrors(t *testing.T) {
	for _, tc := range []struct {
		text       string
		line, col  int
		msgContain string
	}{
		{"kafka-1 A 127.0.0.1\nkafka-2 A 300.1.1.1\n", 2, 19, `bad A A: "300.1.1.1"`},
		{"\n\nkafka-1 IN BOGUS 1\n", 3, 17, "BOGUS"},
		{"$INCLUDE /etc/passwd\n", 1, 0, "$INCLUDE"},
		{"kafka-1 CNAME a\nkafka-1 CNAME b\n", 0, 0, "two CNAME"},
		{"kafka-1 CNAME a\nkafka-1 A 127.0.0.1\n", 0, 0, "CNAME and other records"},
		{"kafka-1 A 127.0.0.1\nkafka-1 CNAME a\n", 0, 0, "CNAME and other records"},
		{"kafka-1 MX 10 mail\n", 0, 0, "type MX is not served"},
		{"kafka-1 CH A 127.0.0.1\n", 0, 0, "only IN"},
		{"kafka-1 CNAME kafka-1\n", 0, 0, "CNAME to itself"},
	} {
		_, err := New(WithZone(tc.text))
		var ze *ZoneError
		if !errors.As(err, &ze) {
			t.Fatalf("%q: got %v, want a *ZoneError", tc.text, err)
		}
		if ze.Source != "zone" || ze.Line != tc.line || (tc.col > 0 && ze.Col != tc.col) {
			t.Errorf("%q: %s: at %s:%d:%d, want line %d col %d", tc.text, err, ze.Source, ze.Line, ze.Col, tc.line, tc.col)
		}
		if !strings.Contains(err.Error(), tc.msgContain) {
			t.Errorf("%q: error %q does not say %q", tc.text, err, tc.msgContain)
		}
		if strings.Contains(err.Error(), "at line:") {
			t.Errorf("%q: error %q repeats the position", tc.text, err)
		}
	}

	path := filepath.Join(t.TempDir(), "brokers.zone")
	os.WriteFile(path, []byte("kafka-1 A 127.0.0.1\n\nkafka-2 A nope\n"), 0o644)
	_, err := New(WithZoneFile(path))
	if err == nil || !strings.HasPrefix(err.Error(), path+":3:14: ") {
		t.Fatalf("zone file error %v should start with %s:3:14", err, path)
	}
	if _, err := New(WithZoneFile(filepath.Join(t.TempDir(), "missing"))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing zone file: %v", err)
	}
}

func TestOptionErrors(t *testing.T) {
	for _, o := range []Option{
		WithForward("", "127.0.0.1"),
		WithForward("corp.", "dns.example:53"),
		WithForward("corp.", "127.0.0.1:0"),
		WithForward("corp.", "127.0.0.1:x"),
		WithSearch("."),
		WithTimeout(0),
		WithCacheSize(0),
	} {
		if _, err := New(o); err == nil {
			t.Errorf("option accepted")
		}
	}
	if _, err := New(WithForward("corp", "127.0.0.1"), WithForward(".", "[::1]:5300")); err != nil {
		t.Fatal(err)
	}
}

func TestRecordsFromCode(t *testing.T) {
	rr, err := dns.NewRR("kafka-7. 60 IN A 127.0.0.7")
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(WithRecords(rr))
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Resolve(context.Background(), "kafka-7:9092")
	if err != nil || !slices.Equal(got, []string{"127.0.0.7:9092"}) {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := New(WithRecords(nil)); err == nil {
		t.Fatal("nil record accepted")
	}
}

// serve starts r on a loopback port and returns its address.
func serve(t testing.TB, r *Resolver) string {
	t.Helper()
	s, err := r.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s.Addr()
}

func query(t testing.TB, network, server, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	in, _, err := c.Exchange(m, server)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	return in
}

func TestServe(t *testing.T) {
	r := newTest(t)
	addr := serve(t, r)
	for _, tc := range []struct {
		name    string
		qtype   uint16
		rcode   int
		answers int
		soa     bool
	}{
		{"kafka-1.", dns.TypeA, dns.RcodeSuccess, 1, false},
		{"Kafka-1.", dns.TypeAAAA, dns.RcodeSuccess, 1, false},
		{"kafka-2.", dns.TypeAAAA, dns.RcodeSuccess, 0, false},           // NODATA, not NXDOMAIN
		{"b-1.kafka.internal.", dns.TypeAAAA, dns.RcodeSuccess, 0, true}, // NODATA with the SOA
		{"b-9.kafka.internal.", dns.TypeA, dns.RcodeNameError, 0, true},  // NXDOMAIN with the SOA
		{"_39092._tcp.kafka-3.", dns.TypeSRV, dns.RcodeSuccess, 2, false},
		{"_tcp.kafka-3.", dns.TypeA, dns.RcodeSuccess, 0, false}, // empty non-terminal
		{"alias2.", dns.TypeA, dns.RcodeSuccess, 4, false},       // two CNAMEs and two A
		{"alias.", dns.TypeCNAME, dns.RcodeSuccess, 1, false},
		{"kafka-1.", dns.TypeANY, dns.RcodeSuccess, 2, false},
		{"example.com.", dns.TypeA, dns.RcodeRefused, 0, false}, // never an open resolver
		{"kafka.internal.", dns.TypeAXFR, dns.RcodeRefused, 0, false},
	} {
		for _, network := range []string{"udp", "tcp"} {
			in := query(t, network, addr, tc.name, tc.qtype, 0)
			if in.Rcode != tc.rcode || len(in.Answer) != tc.answers || (len(in.Ns) == 1) != tc.soa {
				t.Errorf("%s %s %s: rcode %s, %d answers, %d authority; want %s, %d, soa %v",
					network, tc.name, dns.TypeToString[tc.qtype], dns.RcodeToString[in.Rcode],
					len(in.Answer), len(in.Ns), dns.RcodeToString[tc.rcode], tc.answers, tc.soa)
			}
			if in.Authoritative != (tc.rcode != dns.RcodeRefused) {
				t.Errorf("%s %s: AA = %v", network, tc.name, in.Authoritative)
			}
			if in.RecursionAvailable {
				t.Errorf("%s %s: RA set without any forward", network, tc.name)
			}
			if in.Question[0].Name != tc.name {
				t.Errorf("question not echoed as asked: %q", in.Question[0].Name)
			}
		}
	}
	if in := query(t, "udp", addr, "b-9.kafka.internal.", dns.TypeA, 0); in.Ns[0].Header().Ttl != 30 {
		t.Errorf("negative TTL %d, want min(SOA TTL, MINIMUM) = 30", in.Ns[0].Header().Ttl)
	}
}

func TestServeEDNSAndTruncation(t *testing.T) {
	var zone strings.Builder
	for i := range 100 {
		fmt.Fprintf(&zone, "big A 127.0.1.%d\n", i+1)
	}
	r, err := New(WithZone(zone.String()))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, r)

	in := query(t, "udp", addr, "big.", dns.TypeA, 0) // no EDNS: 512 bytes
	if !in.Truncated || len(in.Answer) >= 100 {
		t.Fatalf("UDP without EDNS: TC=%v, %d answers; want truncated", in.Truncated, len(in.Answer))
	}
	in = query(t, "udp", addr, "big.", dns.TypeA, 4096)
	if in.Truncated || len(in.Answer) != 100 {
		t.Fatalf("UDP with EDNS 4096: TC=%v, %d answers; want all 100", in.Truncated, len(in.Answer))
	}
	if opt := in.IsEdns0(); opt == nil || opt.UDPSize() != ednsSize {
		t.Fatalf("EDNS answer without our OPT: %v", opt)
	}
	in = query(t, "tcp", addr, "big.", dns.TypeA, 0)
	if in.Truncated || len(in.Answer) != 100 {
		t.Fatalf("TCP: TC=%v, %d answers; want all 100", in.Truncated, len(in.Answer))
	}

	m := new(dns.Msg)
	m.SetQuestion("big.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().SetVersion(1)
	in, _, err = (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil || in.Rcode != dns.RcodeBadVers {
		t.Fatalf("EDNS version 1: %v, rcode %s; want BADVERS", err, dns.RcodeToString[in.Rcode])
	}
}

func TestServeIgnoresResponses(t *testing.T) {
	r := newTest(t)
	addr := serve(t, r)
	m := new(dns.Msg)
	m.SetQuestion("kafka-1.", dns.TypeA)
	m.Response = true
	c := &dns.Client{Timeout: 300 * time.Millisecond}
	if in, _, err := c.Exchange(m, addr); err == nil {
		t.Fatalf("a response got an answer: %v", in)
	}
	m = new(dns.Msg)
	m.SetQuestion("kafka-1.", dns.TypeA)
	m.Opcode = dns.OpcodeStatus
	in, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil || in.Rcode != dns.RcodeNotImplemented {
		t.Fatalf("STATUS opcode: %v %v", in, err)
	}
}

func TestListenLoopbackOnly(t *testing.T) {
	r := newTest(t)
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "192.0.2.1:0", "kafka:0", "127.0.0.1"} {
		if s, err := r.Listen(addr); err == nil {
			s.Close()
			t.Errorf("Listen(%q) succeeded", addr)
		}
	}
	s, err := r.Listen(":0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Listen(:0) bound %s, want loopback", s.Addr())
	}
}

func TestListenAndServeShutdown(t *testing.T) {
	r := newTest(t)
	s, err := r.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.ListenAndServe(ctx, addr) }()
	var in *dns.Msg
	for range 100 { // until it answers (a refused port fails at once); bounded
		m := new(dns.Msg)
		m.SetQuestion("kafka-1.", dns.TypeA)
		if in, _, err = (&dns.Client{Timeout: 100 * time.Millisecond}).Exchange(m, addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || len(in.Answer) != 1 {
		t.Fatalf("ListenAndServe never answered: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ListenAndServe after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenAndServe did not return after ctx was cancelled")
	}
	// The port is free again.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port still held after shutdown: %v", err)
	}
	ln.Close()
}

func TestNetResolver(t *testing.T) {
	r := newTest(t)
	nr := r.NetResolver()
	ctx := context.Background()
	// Rooted names, so that the system's search domains do not apply.
	addrs, err := nr.LookupHost(ctx, "kafka-2.")
	slices.Sort(addrs)
	if err != nil || !slices.Equal(addrs, []string{"127.0.0.12", "127.0.0.22"}) {
		t.Fatalf("LookupHost = %q, %v", addrs, err)
	}
	_, srvs, err := nr.LookupSRV(ctx, "", "", "_39092._tcp.kafka-3.")
	if err != nil || len(srvs) != 2 || srvs[0].Port != 39094 {
		t.Fatalf("LookupSRV = %v, %v", srvs, err)
	}
	_, err = nr.LookupHost(ctx, "b-9.kafka.internal.")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("LookupHost(missing) = %v, want not found", err)
	}
	// A Go dialer that takes it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r2, err := New(WithZone("svc.kafkadial.test. A 127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	d := &net.Dialer{Resolver: r2.NetResolver()}
	c, err := d.DialContext(ctx, "tcp4", net.JoinHostPort("svc.kafkadial.test.", port))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
