package rules

import (
	"errors"
	"strings"
	"testing"
)

func mustTable(t *testing.T, text string) *Table {
	t.Helper()
	rs, errs := Parse("r", text)
	if len(errs) > 0 {
		t.Fatalf("Parse(%q): %v", text, errs[0])
	}
	return NewTable(rs)
}

func TestLookup(t *testing.T) {
	tab := mustTable(t, `
kafka-{id}:29092   => 127.0.0.1:1909{id}
*.kafka.internal   => lb.internal:{port+1000}
198.18.0.0/16      => 127.0.0.1
~^b-(\d+)\.msk:9092$ => 127.0.0.1:1919$1
keep:1 => = via ssh://bastion,http://u:p@proxy:3128
`)
	for _, c := range []struct{ addr, target, source string }{
		{"kafka-3:29092", "127.0.0.1:19093", "r:2"},
		{"KAFKA-3.:29092", "127.0.0.1:19093", "r:2"},
		{"b.kafka.internal:9092", "lb.internal:10092", "r:3"},
		{"198.18.3.4:9", "127.0.0.1:9", "r:4"},
		{"[::ffff:198.18.3.4]:9", "127.0.0.1:9", "r:4"},
		{"b-2.msk:9092", "127.0.0.1:19192", "r:5"},
		{"keep:1", "keep:1", "r:6"},
		{"other:1", "other:1", ""},
	} {
		r, target, err := tab.Lookup(c.addr)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", c.addr, err)
		}
		source := ""
		if r != nil {
			source = r.Source()
		}
		if target != c.target || source != c.source {
			t.Errorf("Lookup(%q) = %q by %q, want %q by %q", c.addr, target, source, c.target, c.source)
		}
	}
	r, _, _ := tab.Lookup("keep:1")
	if !r.Keep() || r.Target() != "=" || len(r.Via()) != 2 || r.Via()[1].Text != "http://u:p@proxy:3128" || r.Via()[1].Col != 31 {
		t.Errorf("keep rule: keep=%v target=%q via=%+v", r.Keep(), r.Target(), r.Via())
	}
	if _, _, err := tab.Lookup("no-port"); err == nil {
		t.Error("Lookup without a port succeeded")
	}
}

// A quoted host is taken literally: the characters the language gives a
// meaning to ('{', '}', '*', '~', '=') match only themselves.
func TestQuotedLiteralHost(t *testing.T) {
	tab := mustTable(t, `"_{HOSTNAME_COMMAND}":9092 => 127.0.0.1:19092
"*":1 => "=odd{x}":2
"~x" => 127.0.0.1:3
"a.b" => "c{d}"`)
	for _, c := range []struct{ addr, target string }{
		{"_{hostname_command}:9092", "127.0.0.1:19092"},
		{"_{HOSTNAME_COMMAND}:9092", "127.0.0.1:19092"},
		{"_anything:9092", ""},
		{"x:1", ""},
		{"*:1", "=odd{x}:2"},
		{"~x:5", "127.0.0.1:3"},
		{"a.b:7", "c{d}:7"},
		{"axb:7", ""},
	} {
		r, target, err := tab.Lookup(c.addr)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", c.addr, err)
		}
		if r == nil {
			target = ""
		}
		if target != c.target {
			t.Errorf("Lookup(%q) = %q, want %q", c.addr, target, c.target)
		}
	}
	for _, c := range []struct {
		text string
		col  int
		msg  string
	}{
		{`"abc:1 => x`, 1, "missing closing"},
		{`"":1 => x`, 1, "empty quoted host"},
		{`"a:b":1 => x`, 3, "cannot hold ':'"},
		{"\"a\x01b\" => x", 3, `unexpected '\x01'`},
		{`"a"x => y`, 4, "expected :port"},
		{`"a": => y`, 5, "expected a port"},
		{`a => "b"x`, 9, "expected :port"},
		{`a => "b":{nope}`, 10, "not captured"},
	} {
		_, errs := Parse("r", c.text)
		if len(errs) != 1 || errs[0].Col != c.col || !strings.Contains(errs[0].Err.Error(), c.msg) {
			t.Errorf("Parse(%q) = %v, want one error at col %d with %q", c.text, errs, c.col, c.msg)
		}
	}
}

func TestQuoteHost(t *testing.T) {
	for _, c := range []struct{ in, out, err string }{
		{"kafka-1", "kafka-1", ""},
		{"198.18.0.1", "198.18.0.1", ""},
		{"fd00::1", "[fd00::1]", ""},
		{"_{HOSTNAME_COMMAND}", `"_{HOSTNAME_COMMAND}"`, ""},
		{"*", `"*"`, ""},
		{"~x", `"~x"`, ""},
		{"=", `"="`, ""},
		{"a b", "", "no rule can name"},
		{`a"b`, "", "no rule can name"},
		{"a;b", "", "no rule can name"},
		{"a\x00b", "", "no rule can name"},
		{"", "", "empty"},
	} {
		got, err := QuoteHost(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || strings.ContainsRune(err.Error(), 0) {
				t.Errorf("QuoteHost(%q) = %q, %v; want error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.out {
			t.Errorf("QuoteHost(%q) = %q, %v; want %q", c.in, got, err, c.out)
			continue
		}
		// What QuoteHost writes, a rule matches literally and only that.
		tab := mustTable(t, got+":1 => 127.0.0.1:2")
		if r, _, _ := tab.Lookup(joinHostPort(c.in, "1")); r == nil {
			t.Errorf("rule %q does not match %q", got, c.in)
		}
		if r, _, _ := tab.Lookup(joinHostPort(c.in+"x", "1")); r != nil {
			t.Errorf("rule %q matches %q", got, c.in+"x")
		}
	}
}

func joinHostPort(h, p string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]:" + p
	}
	return h + ":" + p
}

func TestShadowed(t *testing.T) {
	rs, _ := Parse("r", "kafka-*:1 => a:1\nkafka-1:1 => b:1\n\"kafka-*\":1 => c:1\nkafka-2 => d")
	got := Shadowed(rs)
	// The glob's '*' also matches a literal '*': line 3 never matches
	// either, and says so without calling the two matches the same.
	if len(got) != 2 || got[0].Line != 2 || got[0].By != "r:1" || got[0].Kind != FindingShadowed ||
		got[1].Line != 3 || !strings.Contains(got[1].Error(), "(kafka-*:1) matches every address") {
		t.Fatalf("Shadowed = %v, want lines 2 and 3, by r:1", got)
	}
	var f Finding = got[0]
	if !strings.HasPrefix(f.Error(), "r:2:1: rule \"kafka-1:1\" never matches") || errors.Unwrap(f) == nil {
		t.Errorf("finding = %q", f.Error())
	}
}

func TestMatchIndex(t *testing.T) {
	tab := mustTable(t, "a:1 => b:2\nkafka-{id}:9 => k{id}:9\n*:9 => =")
	for addr, want := range map[string]Match{
		"a:1":       {Index: 0, Host: "a", Target: "b:2"},
		"kafka-7:9": {Index: 1, Host: "kafka-7", Target: "k7:9"},
		"Z.:9":      {Index: 2, Host: "Z.", Target: "Z.:9"},
		"z:8":       {Index: -1, Host: "z", Target: "z:8"},
	} {
		m, err := tab.Match(addr)
		if err != nil || m.Index != want.Index || m.Host != want.Host || m.Target != want.Target ||
			(m.Index >= 0) != (m.Rule != nil) || (m.Rule != nil && m.Rule != tab.Rules()[m.Index]) {
			t.Errorf("Match(%q) = %+v, %v; want %+v", addr, m, err, want)
		}
	}
	if m, err := tab.Match("bad"); err == nil || m.Index != -1 {
		t.Errorf("Match without a port = %+v, %v", m, err)
	}
}

// A target built from captures must come out a host name or address.
func TestTargetHostChecked(t *testing.T) {
	_, errs := Parse("r", `~^(.*)$ => x$$y{1}:1`)
	if len(errs) != 1 || errs[0].Col != 12 || !strings.Contains(errs[0].Error(), `bad text "x$y" in target host`) {
		t.Fatalf("Parse: %v", errs)
	}
	tab := mustTable(t, `~^h(.*):1$ => a$1`)
	if _, target, err := tab.Lookup("h.b:1"); err != nil || target != "a.b:1" {
		t.Fatalf("Lookup(h.b:1) = %q, %v", target, err)
	}
	tab = mustTable(t, `~^(.*)$ => a$1`)
	if _, target, err := tab.Lookup("h:1"); err == nil || !strings.Contains(err.Error(), `target host "ah:1" is not a host name`) {
		t.Fatalf("Lookup(h:1) = %q, %v", target, err)
	}
}
