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

// Route reports what the rule table decides, with the rule's source, the
// TLS name and the origin. The rule language itself (forms, precedence,
// templates, syntax errors, shadowing) is tested in package rules.
func TestRouteUsesRules(t *testing.T) {
	d := mustNew(t, WithNamedRules("rules.txt", `
kafka-3:39092     => 127.0.0.1:39094
kafka-*           => 127.0.0.1
port-{p}:1        => 127.0.0.1:{p}
`))
	for _, c := range []struct {
		addr, target, rule string
		origin             Origin
	}{
		{"kafka-3:39092", "127.0.0.1:39094", "rules.txt:2", OriginRule},
		{"KAFKA-2.:29092", "127.0.0.1:29092", "rules.txt:3", OriginRule},
		{"other:1", "other:1", "", OriginNone},
	} {
		rt, err := d.Route(c.addr)
		if err != nil || rt.Target != c.target || rt.Rule != c.rule || rt.Addr != c.addr || rt.Origin != c.origin {
			t.Errorf("Route(%q) = %+v, %v; want target %q rule %q origin %s", c.addr, rt, err, c.target, c.rule, c.origin)
		}
		if want := strings.TrimSuffix(hostOf(c.addr), "."); rt.ServerName != want {
			t.Errorf("Route(%q).ServerName = %q, want the advertised host %q", c.addr, rt.ServerName, want)
		}
	}
	// A template error at match time is Route's error, naming the rule.
	if _, err := d.Route("port-99999:1"); err == nil || !strings.Contains(err.Error(), "rules.txt:4") {
		t.Errorf("Route(port-99999:1) = %v, want the template's error naming the rule", err)
	}
}

func hostOf(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	return strings.Trim(addr[:i], "[]")
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

// New reports bad rules as a *RuleError with source, line and column: the
// parser's syntax errors (one row here; the rest in package rules) and the
// hops it cannot build, which only the dialer knows.
func TestRuleErrors(t *testing.T) {
	for _, c := range []struct {
		text      string
		line, col int
		want      string
	}{
		{"kafka-1:9092", 1, 13, "expected a target"},
		{"kafka-1:1 => x:1 via nowhere", 1, 22, "unknown hop"},
		{"k:1 => x:1 via ftp://u:secret@h", 1, 16, "unknown hop scheme"},
		{"a:1 => x via h", 1, 14, "unknown hop \"h\""},
		{"a:1 => x:1 via h", 1, 16, "unknown hop"},
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
