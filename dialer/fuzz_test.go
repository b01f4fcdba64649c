package dialer

import (
	"errors"
	"strings"
	"testing"
)

// FuzzRules feeds arbitrary rule text and addresses to the parser and the
// router: no input may panic, an error must be a positioned *RuleError, and
// whatever routes must come back as a host:port.
func FuzzRules(f *testing.F) {
	for _, seed := range []struct{ rules, addr string }{
		{"kafka-3:39092 => 127.0.0.1:39094", "kafka-3:39092"},
		{"kafka-* => 127.0.0.1", "kafka-9:1"},
		{"kafka-{id}:29092 => 127.0.0.1:1909{id}", "kafka-2:29092"},
		{"*.kafka.internal:9092 => lb.internal:{port+1000}", "b.kafka.internal:9092"},
		{"172.18.0.0/16 => 127.0.0.1", "172.18.3.4:1"},
		{"[fd00::]/8 => [::1]:9092", "[fd00::1]:1"},
		{`~^b-(\d+)\.msk\.local:9092$ => 127.0.0.1:1909$1`, "b-1.msk.local:9092"},
		{"a:1 => = via hop; b => c # comment", "b:2"},
		{"{a}.{b}.*:{p} => {b}.{a}:{p-1}", "x.y.z:5"},
		{"~(?P<h>.*):(?P<p>.*) => ${h}x:$p", "q:1"},
		{"a:1 => [", "a:1"},
		{"{", "x:1"},
		{"*.*:* => {host}:{port+65535}", "a.b:1"},
	} {
		f.Add(seed.rules, seed.addr)
	}
	f.Fuzz(func(t *testing.T, rules, addr string) {
		d, err := New(WithRules(rules), WithVia("hop", &countingDialer{}))
		if err != nil {
			var re *RuleError
			if !errors.As(err, &re) || re.Line < 1 || re.Col < 1 || re.Source != "rules" {
				t.Fatalf("New(%q): %v is not a positioned *RuleError", rules, err)
			}
			return
		}
		defer d.Close()
		rt, err := d.Route(addr)
		if err != nil {
			return
		}
		if rt.Addr != addr || rt.Target == "" || (rt.Rule != "" && !strings.HasPrefix(rt.Rule, "rules:")) {
			t.Fatalf("Route(%q) = %+v", addr, rt)
		}
		if i := strings.LastIndexByte(rt.Target, ':'); i < 0 || i == len(rt.Target)-1 {
			t.Fatalf("Route(%q).Target %q has no port", addr, rt.Target)
		}
	})
}
