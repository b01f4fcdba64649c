package dialer

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/kafkadial/kafkadial/hop"
)

func mustNew(t testing.TB, opts ...Option) *Dialer {
	t.Helper()
	d, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// The rule language as the README documents it, one row per form.
func TestRouteForms(t *testing.T) {
	const rules = `
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
	d := mustNew(t, WithNamedRules("rules.txt", rules))
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
		rt, err := d.Route(c.addr)
		if err != nil {
			t.Errorf("Route(%q): %v", c.addr, err)
			continue
		}
		if rt.Target != c.target || rt.Rule != c.rule || rt.Addr != c.addr {
			t.Errorf("Route(%q) = target %q rule %q, want %q %q", c.addr, rt.Target, rt.Rule, c.target, c.rule)
		}
		if want := strings.TrimSuffix(hostOf(c.addr), "."); rt.ServerName != want {
			t.Errorf("Route(%q).ServerName = %q, want the advertised host %q", c.addr, rt.ServerName, want)
		}
	}
}

func hostOf(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	return strings.Trim(addr[:i], "[]")
}

// First match in written order wins, across the indexes.
func TestRouteFirstMatchWins(t *testing.T) {
	d := mustNew(t, WithRules(`
kafka-*          => 127.0.0.1:1
kafka-1:9092     => 127.0.0.1:2
*.example        => 127.0.0.1:3
a.example        => 127.0.0.1:4
~^z              => 127.0.0.1:5
zz:9             => 127.0.0.1:6
10.0.0.0/8       => 127.0.0.1:7
10.1.2.3         => 127.0.0.1:8
10.1.0.0/16      => 127.0.0.1:9
`))
	for addr, want := range map[string]string{
		"kafka-1:9092": "127.0.0.1:1",
		"a.example:1":  "127.0.0.1:3",
		"zz:9":         "127.0.0.1:5",
		"10.1.2.3:1":   "127.0.0.1:7",
	} {
		rt, err := d.Route(addr)
		if err != nil || rt.Target != want {
			t.Errorf("Route(%q) = %q, %v; want %q", addr, rt.Target, err, want)
		}
	}
	// Reversed: the specific rules now come first and win.
	d2 := mustNew(t, WithRules("kafka-1:9092 => 127.0.0.1:2\nkafka-* => 127.0.0.1:1"))
	if rt, _ := d2.Route("kafka-1:9092"); rt.Target != "127.0.0.1:2" {
		t.Errorf("got %q, want the first rule's target", rt.Target)
	}
	if rt, _ := d2.Route("kafka-2:9092"); rt.Target != "127.0.0.1:1" {
		t.Errorf("got %q, want the glob's target", rt.Target)
	}
}

func TestRouteSourcesKeepOrder(t *testing.T) {
	d := mustNew(t,
		WithGetenv(func(k string) string {
			return map[string]string{"KAFKADIAL_RULES": "a:1 => 127.0.0.1:1\n\nb:1 => 127.0.0.1:2"}[k]
		}),
		WithRules("b:1 => 127.0.0.1:3"),
		WithEnv())
	rt, _ := d.Route("b:1")
	if rt.Target != "127.0.0.1:3" || rt.Rule != "rules:1" {
		t.Errorf("got %+v, want the earlier option's rule", rt)
	}
	rt, _ = d.Route("a:1")
	if rt.Rule != "KAFKADIAL_RULES:1" {
		t.Errorf("env rule source = %q", rt.Rule)
	}
}

func TestRouteTemplateErrorsAtDial(t *testing.T) {
	d := mustNew(t, WithRules("kafka-{id}:9092 => 127.0.0.1:{id+1}\nport-{p}:1 => 127.0.0.1:{p}"))
	for addr, want := range map[string]string{
		"kafka-x:9092": "not a number",
		"port-99999:1": "bad port",
		"port-0:1":     "bad port",
	} {
		_, err := d.Route(addr)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "rules:") {
			t.Errorf("Route(%q) error = %v, want one naming the rule and %q", addr, err, want)
		}
	}
	if _, err := d.Route("no-port"); err == nil {
		t.Error("Route without a port: no error")
	}
}

func TestRuleErrors(t *testing.T) {
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
		{"kafka-1:1 => x:1 via nowhere", 1, 22, "unknown hop"},
		{"kafka-1:1 => x:1 via a,,b", 1, 24, "empty hop"},
		{"k:1 => x:1 via ftp://u:secret@h", 1, 16, "unknown hop scheme"},
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
		{"a:1 => x via h", 1, 14, "unknown hop \"h\""},
		{"a:1 => x:1 via h", 1, 16, "unknown hop"},
		{"ok:1 => x\nbad:1", 2, 6, "expected a target"},
	} {
		_, err := New(WithNamedRules("r.txt", c.text))
		var re *RuleError
		if !errors.As(err, &re) {
			t.Errorf("%q: error %v is not a *RuleError", c.text, err)
			continue
		}
		if re.Source != "r.txt" || re.Line != c.line || re.Col != c.col || !strings.Contains(re.Error(), c.want) {
			t.Errorf("%q: got %v (line %d col %d), want r.txt:%d:%d: ...%s...", c.text, err, re.Line, re.Col, c.line, c.col, c.want)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: error leaks a credential: %v", c.text, err)
		}
	}
}

func TestRulesFileAndEnvFile(t *testing.T) {
	path := t.TempDir() + "/rules.txt"
	if err := writeFile(path, "# header\nkafka-1:29092 => 127.0.0.1:19091\n"); err != nil {
		t.Fatal(err)
	}
	d := mustNew(t, WithGetenv(func(k string) string {
		if k == "KAFKADIAL_RULES_FILE" {
			return path
		}
		return ""
	}), WithEnv())
	rt, _ := d.Route("kafka-1:29092")
	if rt.Rule != path+":2" || rt.Target != "127.0.0.1:19091" {
		t.Errorf("got %+v", rt)
	}
	if _, err := New(WithRulesFile(path + ".missing")); err == nil || !strings.Contains(err.Error(), "rules.txt.missing") {
		t.Errorf("missing file: %v", err)
	}
	if err := writeFile(path, "ok:1 => x\n  bad\n"); err != nil {
		t.Fatal(err)
	}
	_, err := New(WithRulesFile(path))
	if err == nil || !strings.HasPrefix(err.Error(), path+":2:") {
		t.Errorf("error %v should start with %s:2:", err, path)
	}
}

func TestMaskHop(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:pass@proxy:3128": "http://user:***@proxy:3128",
		"socks5://u:p@127.0.0.1:1080": "socks5://u:***@127.0.0.1:1080",
		"ssh://ops@bastion":           "ssh://ops@bastion",
		"ssh://bastion":               "ssh://bastion",
		"http://proxy:3128/a@b":       "http://proxy:3128/a@b",
		"http://u:p%40ss@proxy:3128":  "http://u:***@proxy:3128",
		"named-hop":                   "named-hop",
	} {
		if got := hop.Mask(in); got != want {
			t.Errorf("hop.Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func writeFile(path, text string) error { return os.WriteFile(path, []byte(text), 0o600) }

// A hit on an exact, zone or CIDR rule with a literal target allocates
// nothing, whatever the number of rules; so does a miss.
func TestRouteAllocs(t *testing.T) {
	text, _ := ruleSet(3000)
	d := mustNew(t, WithRules(text))
	for kind, addr := range lastOf(3000) {
		if n := testing.AllocsPerRun(100, func() { d.Route(addr) }); n != 0 {
			t.Errorf("Route(%q) (%s) allocates %v times", addr, kind, n)
		}
	}
}
