package dialer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func checkText(t *testing.T, text string, opts ...Option) []string {
	t.Helper()
	fs, err := Check(append(opts, WithNamedRules("r", text))...)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s", f.Kind, f.Error()))
	}
	return out
}

func TestCheckShadowed(t *testing.T) {
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
			got := checkText(t, tc.text)
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

func TestCheckShadowedNamesCoveringRule(t *testing.T) {
	fs, err := Check(WithNamedRules("a.rules", "kafka-* => 127.0.0.1"), WithNamedRules("b.rules", "x:1 => 127.0.0.1:2\nkafka-2:9092 => 127.0.0.1:3"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("findings: %v", fs)
	}
	f := fs[0]
	want := `b.rules:2:1: rule "kafka-2:9092" never matches: a.rules:1 (kafka-*) matches every address it matches and comes first`
	if f.Kind != FindingShadowed || f.By != "a.rules:1" || f.Error() != want {
		t.Errorf("got %v %q by %q, want %q", f.Kind, f.Error(), f.By, want)
	}
}

func TestCheckSyntaxAllErrors(t *testing.T) {
	text := "kafka-1:29092 => 127.0.0.1:1\n" +
		"kafka-2:99999 => 127.0.0.1\n" + // bad port at col 9
		"kafka-3 => 127.0.0.1 via\n" + // hop missing after via at col 25
		"ok:1 => 127.0.0.1:2; bad[ => x\n" // second rule on the line, col 22
	got := checkText(t, text)
	want := []string{
		"syntax r:2:9: bad port",
		"syntax r:3:25: expected a hop after via",
		"syntax r:4:25: unexpected",
	}
	if len(got) != len(want) {
		t.Fatalf("findings:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("finding %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
	// New agrees on the first error.
	_, err := New(WithNamedRules("r", text))
	var re *RuleError
	if !errors.As(err, &re) || re.Line != 2 || re.Col != 9 {
		t.Errorf("New: %v, want r:2:9", err)
	}
}

func TestCheckHops(t *testing.T) {
	var fwd net.Dialer
	text := "a:1 => 127.0.0.1:2 via bastion\n" +
		"b:1 => 127.0.0.1:3 via jump\n" +
		"c:1 => 127.0.0.1:4 via jump , bastion\n" +
		"d:1 => 127.0.0.1:5 via bastion,bastion\n"
	got := checkText(t, text, WithVia("bastion", &fwd))
	want := []string{
		`hop r:2:24: unknown hop "jump"`,
		`hop r:3:24: unknown hop "jump"`,
		`hop r:4:32: hop "bastion" was built in code`,
	}
	if len(got) != len(want) {
		t.Fatalf("findings:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("finding %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
	// New reports the same first hop problem, at the same place.
	_, err := New(WithNamedRules("r", text), WithVia("bastion", &fwd))
	var re *RuleError
	if !errors.As(err, &re) || re.Line != 2 || re.Col != 24 {
		t.Errorf("New: %v, want r:2:24", err)
	}
}

func TestCheckHopURLSecretMasked(t *testing.T) {
	got := checkText(t, "a:1 => 127.0.0.1:2 via nosuch://user:hunter2@bastion:22")
	if len(got) != 1 || !strings.HasPrefix(got[0], "hop r:1:24:") {
		t.Fatalf("findings: %q", got)
	}
	if strings.Contains(got[0], "hunter2") {
		t.Errorf("finding shows the password: %q", got[0])
	}
}

func TestCheckFilesAndEnv(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.rules")
	if err := os.WriteFile(a, []byte("# brokers\nkafka-* => 127.0.0.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KAFKADIAL_RULES": "kafka-1:9092 => 127.0.0.1:1; x:1 => ::1"}
	fs, err := Check(WithRulesFile(a), WithRulesFile(filepath.Join(dir, "missing.rules")),
		WithGetenv(func(k string) string { return env[k] }), WithEnv())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		got = append(got, f.Kind.String()+" "+f.Error())
	}
	want := []string{
		"source " + filepath.Join(dir, "missing.rules") + ": reading rules:",
		"shadowed KAFKADIAL_RULES:1:1:",
		"syntax KAFKADIAL_RULES:1:37: IPv6 target must be written in brackets",
	}
	if len(got) != len(want) {
		t.Fatalf("findings:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("finding %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
}

func TestCheckBadOption(t *testing.T) {
	if _, err := Check(WithVia("bad name", &net.Dialer{})); err == nil {
		t.Fatal("Check accepted a bad hop name")
	}
}

func TestCheckMakesNoConnection(t *testing.T) {
	// A hop registered in code is never dialled by Check.
	var dialled bool
	hop := dialFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialled = true
		return nil, errors.New("no")
	})
	if got := checkText(t, "a:1 => b:2 via h", WithVia("h", hop)); got != nil {
		t.Fatalf("findings: %q", got)
	}
	if dialled {
		t.Error("Check dialled a hop")
	}
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

// TestCheckShadowedIsTrue cross-checks every shadowing claim against Route:
// for addresses the shadowed rule would match, the dialer must pick an
// earlier rule.
func TestCheckShadowedIsTrue(t *testing.T) {
	text := strings.Join([]string{
		"kafka-*:29092 => 127.0.0.1:1",
		"kafka-{id}:29092 => 127.0.0.1:2{id}",
		"kafka-1:29092 => 127.0.0.1:3",
		"*.internal => 127.0.0.1",
		"b-{x}.msk.internal:9092 => 127.0.0.1:4",
		"10.0.0.0/8 => 127.0.0.1",
		"10.9.9.9:1 => 127.0.0.1:5",
	}, "\n")
	fs, err := Check(WithNamedRules("r", text))
	if err != nil {
		t.Fatal(err)
	}
	lines := map[int]bool{}
	for _, f := range fs {
		lines[f.Line] = true
	}
	for _, l := range []int{2, 3, 5, 7} {
		if !lines[l] {
			t.Errorf("rule on line %d not reported as shadowed: %v", l, fs)
		}
	}
	d, err := New(WithNamedRules("r", text))
	if err != nil {
		t.Fatal(err)
	}
	for addr, notRule := range map[string]string{
		"kafka-7:29092":          "r:2",
		"kafka-1:29092":          "r:3",
		"b-1.msk.internal:9092":  "r:5",
		"10.9.9.9:1":             "r:7",
		"kafka-a.b:29092":        "r:2",
		"b-zz.msk.internal:9092": "r:5",
	} {
		rt, err := d.Route(addr)
		if err != nil {
			t.Fatal(err)
		}
		if rt.Rule == notRule || rt.Rule == "" {
			t.Errorf("Route(%s).Rule = %q: a shadowed rule (or none) took it", addr, rt.Rule)
		}
	}
}

// TestCheckLarge checks a large file of exact rules goes through the index.
func TestCheckLarge(t *testing.T) {
	var b strings.Builder
	for i := range 100000 {
		fmt.Fprintf(&b, "b-%d.kafka.internal:9092 => 127.0.0.1:%d\n", i, 10000+i%50000)
	}
	b.WriteString("b-77.kafka.internal:9092 => 127.0.0.2\n")
	fs, err := Check(WithNamedRules("big", b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Line != 100001 || fs[0].By != "big:78" {
		t.Fatalf("findings: %v", fs)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"kafka-1:29092 => 127.0.0.1:1\nkafka-1:29092 => 127.0.0.1:2",
		"kafka-* => 127.0.0.1; kafka-{id}:9092 => 127.0.0.1:1909{id}",
		"*.x => =\n{a}.{b}.x:1 => {b}:{port+1}",
		"10.0.0.0/8 => 127.0.0.1\n[fd00::]/8 => [::1]\n10.1.0.0/16 => =",
		`~^b-(\d+)\.msk:9092$ => 127.0.0.1:1909$1`,
		"a:1 => b:2 via h , nosuch://u:p@x:22",
		"=> x\nx:0 => y\n[::1 => z\n",
		"*{a}*{b}*{c}*{d} => =\n**{q}** => =",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		fs, err := Check(WithNamedRules("f", text))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Count(text, "\n") + 1
		_, newErr := New(WithNamedRules("f", text))
		blocking := false
		for _, fd := range fs {
			if fd.Line < 1 || fd.Line > lines || fd.Col < 1 || fd.Err == nil {
				t.Fatalf("bad finding position %d:%d (%v) in %d lines", fd.Line, fd.Col, fd.Err, lines)
			}
			if fd.Kind == FindingSyntax || fd.Kind == FindingHop {
				blocking = true
			}
		}
		if blocking != (newErr != nil) {
			t.Fatalf("Check blocking=%v but New: %v (findings %v)", blocking, newErr, fs)
		}
	})
}

// BenchmarkCheck measures Check on rule sets of n exact rules behind a few
// globs (the shape of generated per-broker files); go test -bench Check.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		var sb strings.Builder
		for i := range 50 {
			fmt.Fprintf(&sb, "*.az%d.kafka.internal:9092 => 127.0.0.1:%d\n", i, 20000+i)
		}
		for i := range n {
			fmt.Fprintf(&sb, "b-%d.kafka.internal:9092 => 127.0.0.1:%d\n", i, 10000+i%50000)
		}
		text := sb.String()
		b.Run(fmt.Sprintf("rules=%d", n+50), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				fs, err := Check(WithNamedRules("bench", text))
				if err != nil || len(fs) != 0 {
					b.Fatal(err, fs)
				}
			}
		})
	}
}

// TestCheckURLHops: hops named by URL are built as New builds them (no
// connection made), so a scheme New refuses is a finding and one it knows
// is not.
func TestCheckURLHops(t *testing.T) {
	text := "a:1 => b:2 via socks5://127.0.0.1:1080\n" +
		"c:1 => d:2 via http://u:secret@127.0.0.1:3128 , socks5h://127.0.0.1:1081\n" +
		"e:1 => f:2 via ftp://127.0.0.1:21\n"
	got := checkText(t, text)
	if len(got) != 1 || !strings.HasPrefix(got[0], `hop r:3:16: unknown hop scheme "ftp"`) {
		t.Fatalf("findings: %q", got)
	}
}
