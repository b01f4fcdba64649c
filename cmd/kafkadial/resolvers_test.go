package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kafkadial/kafkadial/dialer"
)

// The RULE column names the rule, or for a resolver's route what answered.
func TestRulesShownRoute(t *testing.T) {
	for _, c := range []struct {
		rt   dialer.Route
		want string
	}{
		{dialer.Route{Origin: dialer.OriginRule, Rule: "rules.txt:3"}, "rules.txt:3"},
		{dialer.Route{Origin: dialer.OriginResolver, Detail: "docker container k1 (3f2a1b9c0d11) by alias"}, "docker container k1 (3f2a1b9c0d11) by alias"},
		{dialer.Route{Origin: dialer.OriginResolver}, "resolver"},
		{dialer.Route{Origin: dialer.OriginNone}, ""},
	} {
		if got := shownRoute(c.rt).Rule; got != c.want {
			t.Errorf("shownRoute(%+v).Rule = %q, want %q", c.rt, got, c.want)
		}
	}
}

// rules explain with --zone: the rules first, then the zone's resolver,
// which the dialer asks (no chaining of the command's own).
func TestRulesExplainZoneResolver(t *testing.T) {
	dir := t.TempDir()
	zone := filepath.Join(dir, "brokers.zone")
	rules := filepath.Join(dir, "rules.txt")
	if err := os.WriteFile(zone, []byte("kafka-1 A 127.0.0.11\nkafka-2 A 127.0.0.12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rules, []byte("kafka-2:29092 => 127.0.0.1:19092\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "rules", "explain", "--no-env", "--rules", rules, "--zone", zone, "kafka-1:29092", "kafka-2:29092", "kafka-3:29092")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"kafka-1:29092  127.0.0.11:29092  resolver",
		"kafka-2:29092  127.0.0.1:19092   " + rules + ":1",
		"kafka-3:29092  kafka-3:29092     (none: dialled as is)",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}
