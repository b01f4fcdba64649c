package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const goodRules = `# brokers of the compose example
kafka-{id}:29092 => 127.0.0.1:1909{id}
127.0.0.1:19091 => =   # the bootstrap
*.msk.internal:9092 => 127.0.0.1:{port+1000}
`

// badRules has one problem of each kind; the comments give the positions.
const badRules = `kafka-*:29092 => 127.0.0.1:19091
kafka-2:99999 => 127.0.0.1
  kafka-3:29092 => 127.0.0.1:19093
b-1:9092 => 127.0.0.1:1 via bastion
c-1:9092 => 127.0.0.1:2 ; c-1:9092 => 127.0.0.1:3
`

func TestRulesCheck(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.rules", goodRules)
	bad := writeFile(t, dir, "bad.rules", badRules)

	code, stdout, stderr := runWith(t, envCLI(nil), "rules", "check", good)
	if code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("good: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	code, stdout, _ = runWith(t, envCLI(nil), "rules", "check", bad)
	want := bad + `:2:9: bad port "99999": expected a number from 1 to 65535, * or {name}
` + bad + `:3:3: rule "kafka-3:29092" never matches: ` + bad + `:1 (kafka-*:29092) matches every address it matches and comes first
` + bad + `:4:29: unknown hop "bastion": register it with dialer.WithVia
` + bad + `:5:27: rule "c-1:9092" never matches: ` + bad + `:5 has the same match and comes first
`
	if code != 1 || stdout != want {
		t.Fatalf("bad: exit %d\n--- got\n%s--- want\n%s", code, stdout, want)
	}

	// Files form one rule set, in order: good.rules' glob covers a later
	// file's exact rule; a missing file is reported and the rest checked.
	later := writeFile(t, dir, "later.rules", "\n\tkafka-7:29092 => 127.0.0.1:7\n")
	missing := filepath.Join(dir, "missing.rules")
	code, stdout, _ = runWith(t, envCLI(nil), "rules", "check", good, missing, later)
	want = missing + ": reading rules: open " + missing + ": no such file or directory\n" +
		later + `:2:2: rule "kafka-7:29092" never matches: ` + good + `:2 (kafka-{id}:29092) matches every address it matches and comes first` + "\n"
	if code != 1 || stdout != want {
		t.Fatalf("set: exit %d\n--- got\n%s--- want\n%s", code, stdout, want)
	}

	// JSON.
	code, stdout, _ = runWith(t, envCLI(nil), "rules", "check", "--json", bad)
	var fs []finding
	if err := json.Unmarshal([]byte(stdout), &fs); err != nil || code != 1 || len(fs) != 4 {
		t.Fatalf("json: exit %d, %v: %s", code, err, stdout)
	}
	if f := fs[1]; f.Kind != "shadowed" || f.Line != 3 || f.Col != 3 || f.By != bad+":1" || f.Source != bad {
		t.Errorf("json finding %+v", f)
	}
	if f := fs[2]; f.Kind != "hop" || f.Line != 4 || f.Col != 29 {
		t.Errorf("json finding %+v", f)
	}
	code, stdout, _ = runWith(t, envCLI(nil), "rules", "check", "--json", good)
	if code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("json clean: exit %d, %q", code, stdout)
	}
}

func TestRulesCheckEnv(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "f.rules", "x-*:1 => 127.0.0.1:1\n")
	env := map[string]string{"KAFKADIAL_RULES": "a:1 => 127.0.0.1:2; a:1 => 127.0.0.1:3", "KAFKADIAL_RULES_FILE": file}
	code, stdout, _ := runWith(t, envCLI(env), "rules", "check")
	want := "KAFKADIAL_RULES:1:21: rule \"a:1\" never matches: KAFKADIAL_RULES:1 has the same match and comes first\n"
	if code != 1 || stdout != want {
		t.Fatalf("env: exit %d\n%s", code, stdout)
	}
	// --env adds the environment after the files.
	first := writeFile(t, dir, "first.rules", "a:* => 127.0.0.1\n")
	code, stdout, _ = runWith(t, envCLI(map[string]string{"KAFKADIAL_RULES": "a:1 => 127.0.0.1:2"}), "rules", "check", first, "--env")
	if code != 1 || !strings.HasPrefix(stdout, "KAFKADIAL_RULES:1:1: rule \"a:1\" never matches: "+first+":1") {
		t.Fatalf("--env: exit %d\n%s", code, stdout)
	}
	code, _, stderr := runWith(t, envCLI(nil), "rules", "check")
	if code != 2 || !strings.Contains(stderr, "no FILE given") {
		t.Fatalf("nothing to check: exit %d %q", code, stderr)
	}
}

func TestRulesExplain(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.rules", goodRules)
	env := map[string]string{"KAFKADIAL_RULES": "other:1 => 127.0.0.1:5"}
	code, stdout, stderr := runWith(t, envCLI(env), "rules", "explain", "--rules", good, "kafka-2:29092", "b-3.msk.internal:9092", "127.0.0.1:19091", "other:1", "nomatch:9092")
	want := strings.ReplaceAll(`ADDR                   TARGET           RULE                   VIA  TLS NAME
kafka-2:29092          127.0.0.1:19092  DIR/good.rules:2       -    kafka-2
b-3.msk.internal:9092  127.0.0.1:10092  DIR/good.rules:4       -    b-3.msk.internal
127.0.0.1:19091        127.0.0.1:19091  DIR/good.rules:3       -    127.0.0.1
other:1                127.0.0.1:5      KAFKADIAL_RULES:1      -    other
nomatch:9092           nomatch:9092     (none: dialled as is)  -    nomatch
`, "DIR", dir)
	// Column widths follow the temp dir's length: compare re-aligned.
	if code != 0 || stderr != "" || squash(stdout) != squash(want) {
		t.Fatalf("exit %d, stderr %q\n--- got\n%s--- want\n%s", code, stderr, stdout, want)
	}
	if !strings.HasPrefix(stdout, "ADDR ") || strings.Count(stdout, "\n") != 6 {
		t.Errorf("table shape:\n%s", stdout)
	}

	code, stdout, _ = runWith(t, envCLI(nil), "rules", "explain", "--rules", good, "--json", "kafka-1:29092", "--no-env")
	var out []explained
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || code != 0 || len(out) != 1 {
		t.Fatalf("json: exit %d %v %s", code, err, stdout)
	}
	if e := out[0]; e.Target != "127.0.0.1:19091" || e.Rule != good+":2" || e.ServerName != "kafka-1" || e.Error != "" {
		t.Errorf("json %+v", e)
	}

	// Malformed addresses and --strict misses: exit 1, said on stderr.
	code, stdout, stderr = runWith(t, envCLI(nil), "rules", "explain", "--rules", good, "--strict", "kafka-1", "nomatch:1", "kafka-1:29092")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	mustContain(t, "stderr", stderr, "kafka-1: address kafka-1: missing port in address (want host:port)", "nomatch:1: no rule matches (refused under --strict)")
	mustContain(t, "stdout", stdout, "kafka-1:29092  127.0.0.1:19091")

	// Bad rules: exit 2 with the position.
	bad := writeFile(t, dir, "bad.rules", badRules)
	code, stdout, stderr = runWith(t, envCLI(nil), "rules", "explain", "--rules", bad, "x:1")
	if code != 2 || stdout != "" || !strings.Contains(stderr, bad+":2:9: bad port") {
		t.Fatalf("bad rules: exit %d %q %q", code, stdout, stderr)
	}
}

func TestRulesUsage(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"rules"}, 2, "", "kafkadial rules check"},
		{[]string{"rules", "bogus"}, 2, "", `unknown command "bogus"`},
		{[]string{"rules", "--help"}, 0, "kafkadial rules from-compose", ""},
		{[]string{"rules", "check", "--help"}, 0, "Usage: kafkadial rules check", ""},
		{[]string{"rules", "explain", "-h"}, 0, "Usage: kafkadial rules explain", ""},
		{[]string{"rules", "explain"}, 2, "", "give at least one host:port"},
		{[]string{"rules", "from-compose", "--help"}, 0, "KAFKA_LISTENERS", ""},
		{[]string{"rules", "check", "--nope"}, 2, "", "flag provided but not defined"},
		{[]string{}, 2, "", "Usage:"},
		{[]string{"help"}, 0, "kafkadial probe --bootstrap", ""},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
	} {
		code, stdout, stderr := runWith(t, envCLI(nil), tc.args...)
		if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
		}
		if tc.code == 0 && stderr != "" || strings.Count(stdout+stderr, "Usage:") > 1 {
			t.Errorf("%q: usage printed twice or on stderr: stdout %q, stderr %q", tc.args, stdout, stderr)
		}
	}
}

// TestRunProcessEnv goes through run, which reads the process environment.
func TestRunProcessEnv(t *testing.T) {
	t.Setenv("KAFKADIAL_RULES", "kafka-9:1 => 127.0.0.1:9")
	code, stdout, _ := runCLI(t, "rules", "explain", "kafka-9:1")
	if code != 0 || !strings.Contains(stdout, "KAFKADIAL_RULES:1") {
		t.Fatalf("exit %d\n%s", code, stdout)
	}
}

// squash replaces the padding between table columns with " | ".
func squash(s string) string { return regexp.MustCompile(` {2,}`).ReplaceAllString(s, " | ") }

var findingLine = regexp.MustCompile(`^(.+):(\d+):(\d+): \S|^(.+): reading rules: `)

// FuzzRulesCheck runs rules check on arbitrary files: it never panics,
// prints only findings in FILE:LINE:COL form, and exits 1 exactly when it
// prints one.
func FuzzRulesCheck(f *testing.F) {
	f.Add(goodRules)
	f.Add(badRules)
	f.Add("a:1 => b:2 via x,\n~( => y\n[::1]:0 => =")
	dir := f.TempDir()
	path := filepath.Join(dir, "f.rules")
	f.Fuzz(func(t *testing.T, text string) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := runWith(t, envCLI(nil), "rules", "check", path)
		if stderr != "" {
			t.Fatalf("stderr %q", stderr)
		}
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		if stdout == "" {
			lines = nil
		}
		if (code == 1) != (len(lines) > 0) || code > 1 {
			t.Fatalf("exit %d with %d findings", code, len(lines))
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, path+":") || !findingLine.MatchString(l) {
				t.Fatalf("finding %q not in FILE:LINE:COL form", l)
			}
		}
	})
}
