package rules

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary rule text and an address to Parse and Lookup:
// no panic, every error positioned inside the text and free of raw control
// bytes, every target a host:port.
func FuzzParse(f *testing.F) {
	for _, s := range []struct{ rules, addr string }{
		{"kafka-{id}:29092 => 127.0.0.1:1909{id}", "kafka-2:29092"},
		{`"_{HOSTNAME_COMMAND}":9092 => "x{y}":{port+1}`, "_{hostname_command}:9092"},
		{`"a:b" => c; "" => d; "q => r`, "a:1"},
		{"~^(.*):(\\d+)$ => ${1}x:$2", "h:1"},
		{"[fd00::]/8 => [::1]:9092 via a,ssh://u@b", "[fd00::1]:5"},
	} {
		f.Add(s.rules, s.addr)
	}
	f.Fuzz(func(t *testing.T, text, addr string) {
		rs, errs := Parse("f", text)
		lines := strings.Count(text, "\n") + 1
		for _, e := range errs {
			if e.Line < 1 || e.Line > lines || e.Col < 1 || e.Source != "f" {
				t.Fatalf("error %v outside %d lines", e, lines)
			}
			if strings.ContainsFunc(e.Error(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("error with a control byte: %q", e.Error())
			}
		}
		r, target, err := NewTable(rs).Lookup(addr)
		if err != nil || r == nil {
			return
		}
		if _, _, err := net.SplitHostPort(target); err != nil {
			t.Fatalf("Lookup(%q) by %s = %q, not host:port", addr, r.Source(), target)
		}
		Shadowed(rs)
	})
}

// FuzzQuoteHost: whatever host QuoteHost writes, a rule matches that host
// literally, and nothing else that differs in a byte.
func FuzzQuoteHost(f *testing.F) {
	for _, s := range []string{"kafka-1", "_{X}", "*", "~a", "=", "fd00::1", "a.b."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if h, _, err := net.SplitHostPort(net.JoinHostPort(host, "7")); err != nil || h != host {
			return // no dial can carry this host
		}
		q, err := QuoteHost(host)
		if err != nil {
			return
		}
		rs, errs := Parse("q", q+":7 => 127.0.0.1:8")
		if len(errs) > 0 {
			t.Fatalf("QuoteHost(%q) = %q, which does not parse: %v", host, q, errs[0])
		}
		tab := NewTable(rs)
		if r, _, _ := tab.Lookup(net.JoinHostPort(host, "7")); r == nil {
			t.Fatalf("rule %q does not match %q", q, host)
		}
		if a, err := netip.ParseAddr(host); err == nil && a.Zone() != "" {
			return // IPv6 zones are ignored in matching, by design
		}
		if r, _, _ := tab.Lookup(net.JoinHostPort(host+"x", "7")); r != nil {
			t.Fatalf("rule %q matches %q", q, host+"x")
		}
	})
}
