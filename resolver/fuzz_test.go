package resolver

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// recorder is the ResponseWriter end of one exchange: what ServeDNS wrote.
type recorder struct {
	network string
	msgs    []*dns.Msg
}

func (w *recorder) LocalAddr() net.Addr {
	if w.network == "tcp" {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
}

func (w *recorder) RemoteAddr() net.Addr {
	if w.network == "tcp" {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}

func (w *recorder) WriteMsg(m *dns.Msg) error { w.msgs = append(w.msgs, m); return nil }
func (w *recorder) Write([]byte) (int, error) { return 0, errors.New("raw write") }
func (w *recorder) Close() error              { return nil }
func (w *recorder) TsigStatus() error         { return nil }
func (w *recorder) TsigTimersOnly(bool)       {}
func (w *recorder) Hijack()                   {}

var fuzzOnce struct {
	sync.Once
	r   *Resolver
	err error
}

// fuzzResolver holds the test zone and forwards "up." to a second resolver
// served on a loopback port, so that fuzzed questions also take the
// forwarding and caching paths.
func fuzzResolver(t testing.TB) *Resolver {
	fuzzOnce.Do(func() {
		up, err := New(WithZone("x.up. A 127.0.0.8\n_9092._tcp.y.up. SRV 0 0 1 x.up.\nup. SOA ns.up. a.up. 1 2 3 4 5\n"))
		if err != nil {
			fuzzOnce.err = err
			return
		}
		s, err := up.Listen("127.0.0.1:0")
		if err != nil {
			fuzzOnce.err = err
			return
		}
		go s.Serve(context.Background()) // lives as long as the test binary
		fuzzOnce.r, fuzzOnce.err = New(WithZone(testZone), WithForward("up.", s.Addr()), WithCacheSize(64))
	})
	if fuzzOnce.err != nil {
		t.Fatal(fuzzOnce.err)
	}
	return fuzzOnce.r
}

func seedQuery(name string, qtype uint16, edit func(*dns.Msg)) []byte {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edit != nil {
		edit(m)
	}
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzServeDNS feeds arbitrary packets to ServeDNS: no panic, and either
// no answer (only for messages that are themselves responses) or one
// well-formed answer to the question asked that fits the transport.
func FuzzServeDNS(f *testing.F) {
	for _, s := range [][]byte{
		seedQuery("kafka-1.", dns.TypeA, nil),
		seedQuery("kafka-2.", dns.TypeAAAA, nil),
		seedQuery("_39092._tcp.kafka-3.", dns.TypeSRV, func(m *dns.Msg) { m.SetEdns0(1232, true) }),
		seedQuery("alias2.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(100, false) }),
		seedQuery("b-9.kafka.internal.", dns.TypeA, nil),
		seedQuery("x.up.", dns.TypeA, nil),
		seedQuery("y.up.", dns.TypeTXT, nil),
		seedQuery("example.com.", dns.TypeA, nil),
		seedQuery("kafka-1.", dns.TypeANY, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }),
		seedQuery("kafka-1.", dns.TypeA, func(m *dns.Msg) { m.Response = true }),
		seedQuery("kafka-1.", dns.TypeA, func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }),
		seedQuery("kafka-1.", dns.TypeA, func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }),
		seedQuery("kafka-1.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(3) }),
		seedQuery("kafka.internal.", dns.TypeAXFR, nil),
		{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		{},
	} {
		f.Add(s)
	}
	r := fuzzResolver(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		req := new(dns.Msg)
		if req.Unpack(data) != nil {
			return // the dns.Server answers or drops these before a handler sees them
		}
		for _, network := range []string{"udp", "tcp"} {
			w := &recorder{network: network}
			r.ServeDNS(w, req)
			if req.Response {
				if len(w.msgs) != 0 {
					t.Fatalf("answered a response: %v", w.msgs[0])
				}
				continue
			}
			if len(w.msgs) != 1 {
				t.Fatalf("%s: %d answers, want 1", network, len(w.msgs))
			}
			resp := w.msgs[0]
			b, err := resp.Pack()
			if err != nil {
				t.Fatalf("%s: answer does not pack: %v\n%v", network, err, resp)
			}
			back := new(dns.Msg)
			if err := back.Unpack(b); err != nil {
				t.Fatalf("%s: answer does not parse back: %v", network, err)
			}
			if !back.Response || back.Id != req.Id || back.Opcode != req.Opcode {
				t.Fatalf("%s: answer header %v does not match the query %v", network, back.MsgHdr, req.MsgHdr)
			}
			if len(req.Question) > 0 && (len(back.Question) != 1 || back.Question[0] != req.Question[0]) {
				t.Fatalf("%s: question %v not echoed: %v", network, req.Question[0], back.Question)
			}
			if network == "udp" {
				limit := dns.MinMsgSize
				if opt := req.IsEdns0(); opt != nil {
					limit = max(limit, int(opt.UDPSize()))
				}
				if len(b) > limit {
					t.Fatalf("UDP answer of %d bytes, over the %d the client can take", len(b), limit)
				}
			}
		}
	})
}

// FuzzZone feeds arbitrary zone text to New: a *ZoneError or a resolver
// that answers questions about every name it holds without panicking.
func FuzzZone(f *testing.F) {
	for _, s := range []string{
		testZone,
		"kafka-1 A 127.0.0.1\n",
		"$ORIGIN kafka.internal.\n@ SOA ns a 1 2 3 4 5\nb-1 A 127.0.0.1\n*.x CNAME b-1\n",
		"_9092._tcp.k SRV 0 0 9093 k\nk A 127.0.0.1\n",
		"a CNAME b\nb CNAME a\n",
		"k (\n A 127.0.0.1 )\n",
		"$TTL 1\nk 0 IN AAAA ::1\nk TXT \"x\\\"\" y\n",
		"k A 1.2.3.4 ; comment\n\\.x\\032y A 127.0.0.1\n",
		"kafka-1 CNAME a\nkafka-1 A 127.0.0.1\n",
		"$INCLUDE x\n",
		"\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		r, err := New(WithZone(text))
		if err != nil {
			var ze *ZoneError
			if !errors.As(err, &ze) || ze.Source != "zone" {
				t.Fatalf("error %v is not a *ZoneError from source zone", err)
			}
			_ = err.Error()
			return
		}
		ctx := context.Background()
		for name := range r.zone.nodes {
			r.Resolve(ctx, net.JoinHostPort(name, "9092"))
			r.LookupHost(ctx, name)
			for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypeCNAME, dns.TypeANY} {
				req := new(dns.Msg)
				req.SetQuestion(name, qtype)
				w := &recorder{network: "udp"}
				r.ServeDNS(w, req)
				if len(w.msgs) != 1 {
					t.Fatalf("%s %s: %d answers", name, dns.TypeToString[qtype], len(w.msgs))
				}
				if _, err := w.msgs[0].Pack(); err != nil {
					t.Fatalf("%s %s: answer does not pack: %v", name, dns.TypeToString[qtype], err)
				}
			}
		}
	})
}

// A name that is not UTF-8 keeps its bytes when folded: strings.ToLower made
// each stray byte a 3-byte U+FFFD, so the key no longer named the record and
// its answer (question included) did not pack (FuzzZone, "dns: bad rdata").
func TestCanonicalFoldsASCIIOnly(t *testing.T) {
	for in, want := range map[string]string{
		"Kafka-1":               "kafka-1.",
		"KAFKA.Internal.":       "kafka.internal.",
		"\x80\xc3\x89QA":        "\x80\xc3\x89qa.",
		"\xddÉ.x":               "\xddÉ.x.",
		"already.lower.":        "already.lower.",
		"":                      "",
		"\\065\\066.escaped":    "\\065\\066.escaped.",
		"\xffAAAAAAAAAAAAAAAAA": "\xffaaaaaaaaaaaaaaaaa.",
	} {
		if got := canonical(in); got != want {
			t.Errorf("canonical(%q) = %q, want %q", in, got, want)
		}
	}
}
