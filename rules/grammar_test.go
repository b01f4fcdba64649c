package rules

import (
	"fmt"
	"strings"
	"testing"
)

// The grammar, precedence, template and shadowing tests of the rule
// language, table-driven; package dialer keeps only how it wires rules
// (sources, hops, Route).

// The rule language as the README documents it, one row per form.
func TestGrammarForms(t *testing.T) {
	const text = `
# Docker-style names that share the internal port
kafka-3:39092             => 127.0.0.1:39094          # exact host:port
kafka-*                   => 127.0.0.1                # target without port: the port is kept
broker-{id}:29092         => 127.0.0.1:1909{id}
*.kafka.internal:9092     => lb.internal:{port+1000}
node-{n}.msk:9092           127.0.0.1:{n-1}           # => is optional
172.18.0.0/16             => 127.0.0.1
[fd00::]/8:9092           => [::1]:19092
[::1]:9092                => 127.0.0.1:29092
~^b-(\d+)\.msk\.local:9092$ => 127.0.0.1:1909$1
~^(?P<name>[a-z]+)\.re:(?P<p>\d+)$ => ${name}.local:${p}
keep.me:1 => = ; semi.colon:1 => 127.0.0.9:2
{h}.any-port:*            => {h}.direct:{port}
`
	rs, errs := Parse("rules.txt", text)
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	tab := NewTable(rs)
	for _, c := range []struct{ addr, target, rule string }{
		{"kafka-3:39092", "127.0.0.1:39094", "rules.txt:3"},
		{"kafka-3:29092", "127.0.0.1:29092", "rules.txt:4"},
		{"KAFKA-2.:29092", "127.0.0.1:29092", "rules.txt:4"},
		{"broker-2:29092", "127.0.0.1:19092", "rules.txt:5"},
		{"broker-2:29093", "broker-2:29093", ""},
		{"broker-2.x:29092", "broker-2.x:29092", ""}, // {id} stays inside one label
		{"b-1.kafka.internal:9092", "lb.internal:10092", "rules.txt:6"},
		{"b-1.kafka.internal:9093", "b-1.kafka.internal:9093", ""},
		{"node-7.msk:9092", "127.0.0.1:6", "rules.txt:7"},
		{"172.18.0.5:9092", "127.0.0.1:9092", "rules.txt:8"},
		{"172.19.0.5:9092", "172.19.0.5:9092", ""},
		{"[fd00::5]:9092", "[::1]:19092", "rules.txt:9"},
		{"[0:0::1]:9092", "127.0.0.1:29092", "rules.txt:10"},
		{"b-3.msk.local:9092", "127.0.0.1:19093", "rules.txt:11"},
		{"abc.re:77", "abc.local:77", "rules.txt:12"},
		{"keep.me:1", "keep.me:1", "rules.txt:13"},
		{"semi.colon:1", "127.0.0.9:2", "rules.txt:13"},
		{"x.any-port:4321", "x.direct:4321", "rules.txt:14"},
	} {
		m, err := tab.Match(c.addr)
		if err != nil {
			t.Errorf("Match(%q): %v", c.addr, err)
			continue
		}
		rule := ""
		if m.Rule != nil {
			rule = m.Rule.Source()
		}
		if m.Target != c.target || rule != c.rule {
			t.Errorf("Match(%q) = target %q rule %q, want %q %q", c.addr, m.Target, rule, c.target, c.rule)
		}
		// The host a TLS name is verified against is the advertised one.
		if want := hostOf(c.addr); strings.TrimSuffix(m.Host, ".") != strings.TrimSuffix(want, ".") {
			t.Errorf("Match(%q).Host = %q, want the advertised host %q", c.addr, m.Host, want)
		}
	}
}

func hostOf(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	return strings.Trim(addr[:i], "[]")
}

// Precedence: the first match in written order wins, across the indexes
// (exact, glob, regexp, CIDR).
func TestPrecedence(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       map[string]string
	}{
		{"written order across indexes", `
kafka-*          => 127.0.0.1:1
kafka-1:9092     => 127.0.0.1:2
*.example        => 127.0.0.1:3
a.example        => 127.0.0.1:4
~^z              => 127.0.0.1:5
zz:9             => 127.0.0.1:6
10.0.0.0/8       => 127.0.0.1:7
10.1.2.3         => 127.0.0.1:8
10.1.0.0/16      => 127.0.0.1:9
`, map[string]string{
			"kafka-1:9092": "127.0.0.1:1",
			"a.example:1":  "127.0.0.1:3",
			"zz:9":         "127.0.0.1:5",
			"10.1.2.3:1":   "127.0.0.1:7",
		}},
		{"specific first", "kafka-1:9092 => 127.0.0.1:2\nkafka-* => 127.0.0.1:1", map[string]string{
			"kafka-1:9092": "127.0.0.1:2", // the first rule's target
			"kafka-2:9092": "127.0.0.1:1", // the glob's
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tab := mustTable(t, c.text)
			for addr, want := range c.want {
				if m, err := tab.Match(addr); err != nil || m.Target != want {
					t.Errorf("Match(%q) = %q, %v; want %q", addr, m.Target, err, want)
				}
			}
		})
	}
}

// A template whose result is not an address fails the match, naming the
// rule; so does an address without a port.
func TestTemplateErrorsAtMatch(t *testing.T) {
	rs, errs := Parse("rules", "kafka-{id}:9092 => 127.0.0.1:{id+1}\nport-{p}:1 => 127.0.0.1:{p}")
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	tab := NewTable(rs)
	for _, c := range []struct{ addr, want string }{
		{"kafka-x:9092", "not a number"},
		{"port-99999:1", "bad port"},
		{"port-0:1", "bad port"},
	} {
		_, err := tab.Match(c.addr)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "rules:") {
			t.Errorf("Match(%q) error = %v, want one naming the rule and %q", c.addr, err, c.want)
		}
	}
	if _, err := tab.Match("no-port"); err == nil {
		t.Error("Match without a port: no error")
	}
}

// Syntax errors: position and what was expected. (Hop names and schemes
// are the dialer's to check: its tests keep those rows.)
func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		text      string
		line, col int
		want      string
	}{
		{"kafka-1:9092", 1, 13, "expected a target"},
		{"\n  kafka-1:9092 =>", 2, 18, "expected a target"},
		{"=> 127.0.0.1", 1, 1, "expected an address pattern"},
		{"kafka-1:99999 => x:1", 1, 9, "bad port"},
		{"kafka-1:1 => x:0", 1, 16, "bad port"},
		{"kafka-1:1 => x:1 y", 1, 18, "unexpected \"y\""},
		{"kafka-1:1 => x:1 via", 1, 21, "expected a hop"},
		{"kafka-1:1 => x:1 via a,,b", 1, 24, "empty hop"},
		{"~( => x:1", 1, 2, "bad regular expression"},
		{"~^a$ => x:$2", 1, 11, "the regexp has 0 groups"},
		{"kafka-{id => x:1", 1, 7, "missing }"},
		{"kafka-{1d} => x:1", 1, 7, "bad capture"},
		{"kafka-{host} => x:1", 1, 7, "predefined"},
		{"{a}-{a} => x:1", 1, 5, "appears twice"},
		{"kafka-{id} => x:{idd}", 1, 17, "not captured"},
		{"kafka-{id} => x:{id*2}", 1, 17, "bad reference"},
		{"a:1 => $1:1", 1, 8, "$ references are for ~regexp"},
		{"fd00::1 => x", 1, 1, "brackets"},
		{"a:1 => fd00::1", 1, 8, "brackets"},
		{"a:1 => [fd00::1", 1, 8, "missing ]"},
		{"a:1 => [zz]:1", 1, 9, "bad IPv6"},
		{"a:1 => x:", 1, 10, "expected a port"},
		{"a:1 => :5", 1, 8, "expected a host"},
		{"a b:1 => x", 1, 7, "unexpected \"=>\""}, // "a" => "b:1", then "=>" is unexpected
		{"a/b:1 => x", 1, 1, "bad CIDR"},
		{"300.0.0.0/8 => x", 1, 1, "bad CIDR"},
		{"a..b:1 => x", 1, 1, "empty label"},
		{"a:1 => x y:2 z", 1, 10, "unexpected"},
		{"a:1 => b*:1", 1, 8, "bad host"},
		{"*.*.*.*.*.*.*.*.* => x", 1, 1, "too many wildcards"},
		{"ok:1 => x\nbad:1", 2, 6, "expected a target"},
	} {
		_, errs := Parse("r.txt", c.text)
		if len(errs) == 0 {
			t.Errorf("%q: no error", c.text)
			continue
		}
		e := errs[0]
		if e.Source != "r.txt" || e.Line != c.line || e.Col != c.col || !strings.Contains(e.Error(), c.want) {
			t.Errorf("%q: got %v (line %d col %d), want r.txt:%d:%d: ...%s...", c.text, e, e.Line, e.Col, c.line, c.col, c.want)
		}
		if strings.Contains(e.Error(), "secret") {
			t.Errorf("%q: error leaks a credential: %v", c.text, e)
		}
	}
}

// Parse reports every syntax error, not only the first.
func TestParseAllErrors(t *testing.T) {
	text := "kafka-1:29092 => 127.0.0.1:1\n" +
		"kafka-2:99999 => 127.0.0.1\n" + // bad port at col 9
		"kafka-3 => 127.0.0.1 via\n" + // hop missing after via at col 25
		"ok:1 => 127.0.0.1:2; bad[ => x\n" // second rule on the line, col 22
	rs, errs := Parse("r", text)
	want := []string{
		"r:2:9: bad port",
		"r:3:25: expected a hop after via",
		"r:4:25: unexpected",
	}
	if len(errs) != len(want) || len(rs) != 2 {
		t.Fatalf("%d rules, errors %v", len(rs), errs)
	}
	for i := range want {
		if !strings.HasPrefix(errs[i].Error(), want[i]) {
			t.Errorf("error %d = %q, want prefix %q", i, errs[i], want[i])
		}
	}
}

// Shadowing: a rule that an earlier rule covers entirely never matches.
func TestShadowedTable(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string // "kind source:line:col" prefixes, in order
	}{
		{"clean", "kafka-1:29092 => 127.0.0.1:1\nkafka-2:29092 => 127.0.0.1:2\nkafka-*:9092 => 127.0.0.1", nil},
		{"duplicate exact", "kafka-1:29092 => 127.0.0.1:1\nkafka-1:29092 => 127.0.0.1:2", []string{"shadowed r:2:1"}},
		{"case and trailing dot", "KAFKA-1.:29092 => 127.0.0.1:1\n  kafka-1:29092 => 127.0.0.1:2", []string{"shadowed r:2:3"}},
		{"any port covers a port", "kafka-1 => 127.0.0.1\nkafka-1:9092 => 127.0.0.1:2", []string{"shadowed r:2:1"}},
		{"a port does not cover any port", "kafka-1:9092 => 127.0.0.1:2\nkafka-1 => 127.0.0.1", nil},
		{"other port", "kafka-1:9092 => 127.0.0.1:2\nkafka-1:9093 => 127.0.0.1", nil},
		{"glob covers exact", "kafka-* => 127.0.0.1\nkafka-3:29092 => 127.0.0.1:3", []string{"shadowed r:2:1"}},
		{"glob covers glob", "*.internal:9092 => 127.0.0.1\nb-{id}.kafka.internal:9092 => 127.0.0.1:1909{id}", []string{"shadowed r:2:1"}},
		{"capture does not cover dots", "kafka-{id}:9092 => 127.0.0.1:1909{id}\nkafka-*:9092 => 127.0.0.1", nil},
		{"star covers capture", "kafka-*:9092 => 127.0.0.1\nkafka-{id}:9092 => 127.0.0.1:1909{id}", []string{"shadowed r:2:1"}},
		{"capture covers capture with literal", "b-{x}.msk:9092 => 127.0.0.1\nb-1{y}.msk:9092 => 127.0.0.1", []string{"shadowed r:2:1"}},
		{"capture needs non-empty", "b-{x}.msk => 127.0.0.1\nb-*.msk => 127.0.0.1", nil},
		{"same glob", "kafka-{id}:29092 => 127.0.0.1:1909{id}; kafka-{n}:29092 => 127.0.0.1:2909{n}", []string{"shadowed r:1:41"}},
		{"glob does not match ipv6", "* => 127.0.0.1\n[::1]:9092 => 127.0.0.1:2", nil},
		{"star covers ipv4", "* => 127.0.0.1\n10.0.0.1:9092 => 127.0.0.1:2\n10.1.0.0/16 => 127.0.0.1", []string{"shadowed r:2:1", "shadowed r:3:1"}},
		{"cidr covers ip", "10.0.0.0/8 => 127.0.0.1\n10.1.2.3:9092 => 127.0.0.1:2", []string{"shadowed r:2:1"}},
		{"cidr covers cidr", "10.0.0.0/8 => 127.0.0.1\n10.1.0.0/16 => 127.0.0.1", []string{"shadowed r:2:1"}},
		{"narrow cidr does not cover wide", "10.1.0.0/16 => 127.0.0.1\n10.0.0.0/8 => 127.0.0.1", nil},
		{"ipv6 cidr", "[fd00::]/8 => 127.0.0.1\n[fd12::1]:9092 => 127.0.0.1:1", []string{"shadowed r:2:1"}},
		{"regexp covers exact with port", `~^kafka-\d+:9092$ => 127.0.0.1` + "\nkafka-7:9092 => 127.0.0.1:7", []string{"shadowed r:2:1"}},
		{"regexp does not claim any port", `~^kafka-\d+:9092$ => 127.0.0.1` + "\nkafka-7 => 127.0.0.1", nil},
		{"same regexp", `~^b-(\d+)$ => 127.0.0.1` + "\n" + `~^b-(\d+)$ => 127.0.0.2`, []string{"shadowed r:2:1"}},
		{"later rule never shadows earlier", "kafka-3:29092 => 127.0.0.1:3\nkafka-* => 127.0.0.1", nil},
		{"first shadowing rule named", "kafka-* => 127.0.0.1\n* => 127.0.0.2\nkafka-1:1 => 127.0.0.3", []string{"shadowed r:3:1"}},
		{"narrower glob first", "kafka-* => 127.0.0.1\n* => 127.0.0.2", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, errs := Parse("r", tc.text)
			if len(errs) > 0 {
				t.Fatal(errs[0])
			}
			var got []string
			for _, f := range Shadowed(rs) {
				got = append(got, fmt.Sprintf("%s %s", f.Kind, f.Error()))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("findings:\n%s\nwant prefixes %q", strings.Join(got, "\n"), tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]+":") {
					t.Errorf("finding %d = %q, want prefix %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// Every shadowing claim is checked against Match: for addresses the
// shadowed rule would match, an earlier rule takes them.
func TestShadowedIsTrue(t *testing.T) {
	text := strings.Join([]string{
		"kafka-*:29092 => 127.0.0.1:1",
		"kafka-{id}:29092 => 127.0.0.1:2{id}",
		"kafka-1:29092 => 127.0.0.1:3",
		"*.internal => 127.0.0.1",
		"b-{x}.msk.internal:9092 => 127.0.0.1:4",
		"10.0.0.0/8 => 127.0.0.1",
		"10.9.9.9:1 => 127.0.0.1:5",
	}, "\n")
	rs, errs := Parse("r", text)
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	lines := map[int]bool{}
	for _, f := range Shadowed(rs) {
		lines[f.Line] = true
	}
	for _, l := range []int{2, 3, 5, 7} {
		if !lines[l] {
			t.Errorf("rule on line %d not reported as shadowed", l)
		}
	}
	tab := NewTable(rs)
	for addr, notRule := range map[string]string{
		"kafka-7:29092":          "r:2",
		"kafka-1:29092":          "r:3",
		"b-1.msk.internal:9092":  "r:5",
		"10.9.9.9:1":             "r:7",
		"kafka-a.b:29092":        "r:2",
		"b-zz.msk.internal:9092": "r:5",
	} {
		m, err := tab.Match(addr)
		if err != nil {
			t.Fatal(err)
		}
		if m.Rule == nil || m.Rule.Source() == notRule {
			t.Errorf("Match(%s) = %+v: a shadowed rule (or none) took it", addr, m)
		}
	}
}

// A large file of exact rules goes through the index.
func TestShadowedLarge(t *testing.T) {
	var b strings.Builder
	for i := range 100000 {
		fmt.Fprintf(&b, "b-%d.kafka.internal:9092 => 127.0.0.1:%d\n", i, 10000+i%50000)
	}
	b.WriteString("b-77.kafka.internal:9092 => 127.0.0.2\n")
	rs, errs := Parse("big", b.String())
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	fs := Shadowed(rs)
	if len(fs) != 1 || fs[0].Line != 100001 || fs[0].By != "big:78" {
		t.Fatalf("findings: %v", fs)
	}
}
