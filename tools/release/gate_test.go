package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A module with a fuzz target that works, one whose seed fails, one whose
// fuzzing finds a failing input and one that never returns: the gate
// finds the four, passes the first and fails the others, naming the
// input found, and the hanging one within its budget plus grace.
func TestFuzzGate(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and fuzzes")
	}
	root := t.TempDir()
	writeFile(t, root, "go.mod", "module example.com/fuzzy\n\ngo 1.26.0\n")
	writeFile(t, root, "fuzzy.go", "// Package fuzzy is fuzzed.\npackage fuzzy\n\n// Len is len.\nfunc Len(s string) int { return len(s) }\n")
	writeFile(t, root, "fuzzy_test.go", `package fuzzy

import "testing"

func FuzzFine(f *testing.F) {
	f.Add("seed")
	f.Fuzz(func(t *testing.T, s string) {
		if Len(s) != len(s) {
			t.Fatal("len")
		}
	})
}

func FuzzFailing(f *testing.F) {
	f.Add("boom")
	f.Fuzz(func(t *testing.T, s string) {
		if s == "boom" {
			t.Fatal("boom")
		}
	})
}

func FuzzFinds(f *testing.F) {
	f.Add("a")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 1 {
			t.Fatal("found")
		}
	})
}

func FuzzHang(f *testing.F) {
	f.Add("x")
	f.Fuzz(func(t *testing.T, s string) { select {} })
}

// fuzzHelper is not a fuzz target.
func fuzzHelper(f *testing.F) {}

func TestNotFuzz(t *testing.T) {}
`)
	ctx := context.Background()
	targets, err := fuzzTargets(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tg := range targets {
		names = append(names, tg.Pkg+"."+tg.Name)
	}
	if got, want := strings.Join(names, " "), "example.com/fuzzy.FuzzFine example.com/fuzzy.FuzzFailing example.com/fuzzy.FuzzFinds example.com/fuzzy.FuzzHang"; got != want {
		t.Fatalf("targets %q, want %q", got, want)
	}
	o := gateOptions{FuzzTime: 2 * time.Second, FuzzStart: 2 * time.Minute, FuzzGrace: 3 * time.Second, FuzzCache: t.TempDir()}
	var log bytes.Buffer

	res, err := runFuzz(ctx, root, targets[0], o, &log)
	if err != nil || res.Execs == 0 {
		t.Errorf("FuzzFine: %d execs, %v", res.Execs, err)
	}

	_, err = runFuzz(ctx, root, targets[1], o, &log)
	if err == nil || !strings.HasPrefix(err.Error(), "failed: ") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("FuzzFailing: %v", err)
	}

	res, err = runFuzz(ctx, root, targets[2], o, &log)
	if err == nil || !strings.HasPrefix(err.Error(), "failed (failing input written to "+filepath.Join(root, "testdata", "fuzz", "FuzzFinds")+string(filepath.Separator)) || len(res.Written) != 1 {
		t.Errorf("FuzzFinds: %v (written %q)", err, res.Written)
	}
	os.RemoveAll(filepath.Join(root, "testdata"))

	start := time.Now()
	_, err = runFuzz(ctx, root, targets[3], o, &log)
	// go test gives up on the stuck worker at the deadline and says PASS;
	// the gate sees no execution (or, if go test hung too, no end).
	if err == nil || !strings.Contains(err.Error(), "stalled: ") {
		t.Errorf("FuzzHang: %v", err)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("FuzzHang took %s to be stopped", d)
	}

	// A run that prints no status in time is killed, with its children.
	quick := o
	quick.FuzzStart = 50 * time.Millisecond
	if _, err = runFuzz(ctx, root, targets[0], quick, &log); err == nil || !strings.Contains(err.Error(), "stalled: no fuzzing status within 50ms") {
		t.Errorf("FuzzFine with no time to start: %v", err)
	}
}

func TestIsTestName(t *testing.T) {
	for name, want := range map[string]bool{"Fuzz": true, "FuzzX": true, "Fuzz_x": true, "Fuzz1": true, "Fuzzy": false, "fuzzX": false} {
		if got := isTestName(name, "Fuzz"); got != want {
			t.Errorf("isTestName(%q) = %v", name, got)
		}
	}
}

func TestFuzzEnd(t *testing.T) {
	if err := fuzzEnd(nil, &fuzzResult{Execs: 0, Elapsed: 5 * time.Second}, "fuzz: elapsed: 5s, gathering baseline coverage: 3/900 completed\n"); err == nil || !strings.Contains(err.Error(), "stalled: 0 executions in 5s") {
		t.Errorf("0 execs: %v", err)
	}
	// The other way a stuck input ends: FAIL at the deadline, no input written.
	stuck := "fuzz: elapsed: 4s, gathering baseline coverage: 0/1 completed\n--- FAIL: FuzzHang (4.01s)\n    context deadline exceeded\nFAIL\n"
	if err := fuzzEnd(errors.New("exit status 1"), &fuzzResult{Elapsed: 4 * time.Second, Budget: 4 * time.Second}, stuck); err == nil || !strings.Contains(err.Error(), "stalled: 0 executions in 4s") {
		t.Errorf("deadline FAIL: %v", err)
	}
	// A real finding that also mentions a deadline stays a failure.
	found := "--- FAIL: FuzzX (0.10s)\n    x_test.go:9: context deadline exceeded\n    Failing input written to testdata/fuzz/FuzzX/abc\n"
	if err := fuzzEnd(errors.New("exit status 1"), &fuzzResult{}, found); err == nil || !strings.HasPrefix(err.Error(), "failed: ") {
		t.Errorf("finding: %v", err)
	}
	if err := fuzzEnd(nil, &fuzzResult{Execs: 10}, ""); err != nil {
		t.Errorf("10 execs: %v", err)
	}
}

// TestFuzzBoundaryRace is the CI run that failed stop 12's submission:
// Go 1.26's coordinator reported its own deadline as the target's
// failure (go.dev/issue/75804). That shape passes, with a note; every
// shape a finding can take still fails.
func TestFuzzBoundaryRace(t *testing.T) {
	const race = `fuzz: elapsed: 0s, gathering baseline coverage: 0/5 completed
fuzz: elapsed: 0s, gathering baseline coverage: 5/5 completed, now fuzzing with 2 workers
fuzz: elapsed: 3s, execs: 239653 (79880/sec), new interesting: 154 (total: 159)
fuzz: elapsed: 5s, execs: 356493 (55673/sec), new interesting: 158 (total: 163)
--- FAIL: FuzzPrintable (5.10s)
    context deadline exceeded
FAIL
exit status 1
FAIL	github.com/kafkadial/kafkadial/internal/safetext	5.104s
`
	exit1 := errors.New("exit status 1")
	budget := 5 * time.Second
	res := &fuzzResult{Execs: 356493, Elapsed: 5 * time.Second, Budget: budget}
	if err := fuzzEnd(exit1, res, race); err != nil || !strings.Contains(res.Note, "75804") {
		t.Errorf("boundary race: %v (note %q)", err, res.Note)
	}
	for name, c := range map[string]struct {
		out     string
		written []string
		budget  time.Duration
		noExecs bool
	}{
		"before the budget":      {out: race, budget: 6 * time.Second},
		"failing input on disk":  {out: race, written: []string{"testdata/fuzz/FuzzPrintable/0123"}, budget: budget},
		"failing input reported": {out: strings.Replace(race, "    context deadline exceeded\n", "    context deadline exceeded\n    Failing input written to testdata/fuzz/FuzzPrintable/0123\n", 1), budget: budget},
		"t.Error of the target":  {out: strings.Replace(race, "    context deadline exceeded", "    printable_test.go:31: context deadline exceeded", 1), budget: budget},
		"a second message":       {out: strings.Replace(race, "    context deadline exceeded\n", "    context deadline exceeded\n    panic: boom\n", 1), budget: budget},
		"no message":             {out: strings.Replace(race, "    context deadline exceeded\n", "", 1), budget: budget},
		"a worker that crashed":  {out: strings.Replace(race, "    context deadline exceeded", "    fuzzing process hung or terminated unexpectedly: exit status 2", 1), budget: budget},
		"no execution":           {out: strings.ReplaceAll(strings.ReplaceAll(race, "239653", "0"), "356493", "0"), budget: budget, noExecs: true},
	} {
		res := &fuzzResult{Execs: 356493, Elapsed: 5 * time.Second, Budget: c.budget, Written: c.written}
		if c.noExecs {
			res.Execs = 0
		}
		if err := fuzzEnd(exit1, res, c.out); err == nil {
			t.Errorf("%s: passed (note %q)", name, res.Note)
		}
	}
}

func TestNewFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "seed"), nil, 0o644)
	before := listFiles(dir)
	os.WriteFile(filepath.Join(dir, "found"), nil, 0o644)
	if got := newFiles(before, listFiles(dir)); len(got) != 1 || got[0] != filepath.Join(dir, "found") {
		t.Errorf("new files %q", got)
	}
	if got := listFiles(filepath.Join(dir, "none")); len(got) != 0 {
		t.Errorf("missing dir lists %v", got)
	}
}

func TestFuzzStatusLine(t *testing.T) {
	// The last status line gives the total; its rate may read 0/sec.
	m := fuzzStatus.FindStringSubmatch("fuzz: elapsed: 1m0s, execs: 716486 (0/sec), new interesting: 347 (total: 892)")
	if m == nil || m[1] != "1m0s" || m[2] != "716486" {
		t.Errorf("match %q", m)
	}
}

func TestOpensWithSnippet(t *testing.T) {
	for text, want := range map[string]bool{
		"Package a does x.\n\n\ta.X()\n\nMore.\n":        true,
		"Package a does x.\n\nProse first.\n\n\ta.X()\n": false,
		"Package a does x.\n":                            false,
	} {
		if got := opensWithSnippet(text); got != want {
			t.Errorf("opensWithSnippet(%q) = %v", text, got)
		}
	}
}
