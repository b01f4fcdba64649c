package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/resolver"
	"github.com/miekg/dns"
)

// Brokers advertise kafka-N:29092. An A record moves a broker to another
// host and keeps the port; an SRV record at _PORT._tcp.HOST moves that one
// port of the host, to a target and port of its own.
func ExampleResolver_Resolve() {
	r, err := resolver.New(resolver.WithZone(`
kafka-1               A    127.0.0.1
_29092._tcp.kafka-2   SRV  0 0 19092 lb
_29092._tcp.kafka-3   SRV  0 0 19093 lb
lb                    A    127.0.0.1
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, addr := range []string{"kafka-1:29092", "kafka-2:29092", "kafka-3:29092", "kafka-4:29092"} {
		cands, err := r.Resolve(context.Background(), addr)
		fmt.Println(addr, "=>", cands, err)
	}
	// Output:
	// kafka-1:29092 => [127.0.0.1:29092] <nil>
	// kafka-2:29092 => [127.0.0.1:19092] <nil>
	// kafka-3:29092 => [127.0.0.1:19093] <nil>
	// kafka-4:29092 => [] lookup kafka-4.: not in any zone or forward of the resolver
}

// Errors in zone text name the source and line.
func ExampleNew_zoneError() {
	_, err := resolver.New(resolver.WithNamedZone("brokers.zone", "kafka-1 A 127.0.0.1\nkafka-2 A 127.0.0.300\n"))
	var ze *resolver.ZoneError
	fmt.Println(errors.As(err, &ze), ze.Line)
	fmt.Println(err)
	// Output:
	// true 2
	// brokers.zone:2:21: bad A A: "127.0.0.300"
}

// The dialer asks the resolver about addresses that no rule matches, and
// Route shows what it answered.
func ExampleResolver_dialer() {
	r, err := resolver.New(resolver.WithZone("_29092._tcp.kafka-3 SRV 0 0 39094 lb\nlb A 127.0.0.1\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := dialer.New(
		dialer.WithRules("kafka-1:29092 => 127.0.0.1:19091"),
		dialer.WithResolver(r),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, addr := range []string{"kafka-1:29092", "kafka-3:29092"} {
		rt, err := d.Route(addr)
		by := rt.Origin.String() // "rule" or "resolver": who chose the target
		if rt.Rule != "" {
			by += " " + rt.Rule // which rule
		}
		fmt.Printf("%s -> %s (%s, TLS name %s) %v\n", rt.Addr, rt.Target, by, rt.ServerName, err)
	}
	// Output:
	// kafka-1:29092 -> 127.0.0.1:19091 (rule rules:1, TLS name kafka-1) <nil>
	// kafka-3:29092 -> 127.0.0.1:39094 (resolver, TLS name kafka-3) <nil>
}

// Served on a loopback port, the same answers reach tools that are not Go.
// An AAAA question for a name with only A records gets NODATA; names
// outside the zones are refused.
func ExampleResolver_Listen() {
	r, err := resolver.New(resolver.WithZone("kafka-1 A 127.0.0.1\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := r.Listen("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()

	c := new(dns.Client)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"kafka-1.", dns.TypeA}, {"kafka-1.", dns.TypeAAAA}, {"kafka-9.", dns.TypeA}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		in, _, err := c.Exchange(m, s.Addr())
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(q.name, dns.TypeToString[q.qtype], dns.RcodeToString[in.Rcode], len(in.Answer), "answers")
	}
	stop()
	fmt.Println("shut down:", <-done)
	// Output:
	// kafka-1. A NOERROR 1 answers
	// kafka-1. AAAA NOERROR 0 answers
	// kafka-9. A REFUSED 0 answers
	// shut down: <nil>
}

// NetResolver gives any Go code that takes a *net.Resolver the same
// answers, in process.
func ExampleResolver_NetResolver() {
	r, err := resolver.New(resolver.WithZone("schema-registry.kafkadial.test. A 127.0.0.1\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.WriteString(c, "hello")
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	d := &net.Dialer{Resolver: r.NetResolver()}
	c, err := d.Dial("tcp4", net.JoinHostPort("schema-registry.kafkadial.test.", port))
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := io.ReadAll(c)
	c.Close()
	fmt.Println(string(b))
	// Output:
	// hello
}
