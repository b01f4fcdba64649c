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

// Check reports the rule language's shadowing findings (rules.Shadowed,
// whose cases are tested in package rules) across the rule sources.
func TestCheckShadowed(t *testing.T) {
	got := checkText(t, "kafka-* => 127.0.0.1\nkafka-3:29092 => 127.0.0.1:3\nother:1 => 127.0.0.1:4")
	if len(got) != 1 || !strings.HasPrefix(got[0], "shadowed r:2:1:") {
		t.Fatalf("findings %q, want r:2 shadowed", got)
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
