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

// A module with a fuzz target that works, one whose seed fails and one
// that never returns: the gate finds the three, passes the first and
// fails the other two, the hanging one within its budget plus grace.
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
	if got, want := strings.Join(names, " "), "example.com/fuzzy.FuzzFine example.com/fuzzy.FuzzFailing example.com/fuzzy.FuzzHang"; got != want {
		t.Fatalf("targets %q, want %q", got, want)
	}
	o := gateOptions{FuzzTime: 2 * time.Second, FuzzStart: 2 * time.Minute, FuzzGrace: 3 * time.Second, FuzzCache: t.TempDir()}
	var log bytes.Buffer

	res, err := runFuzz(ctx, root, targets[0], o, &log)
	if err != nil || res.Execs == 0 {
		t.Errorf("FuzzFine: %d execs, %v", res.Execs, err)
	}

	_, err = runFuzz(ctx, root, targets[1], o, &log)
	if err == nil || !strings.Contains(err.Error(), "failed") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("FuzzFailing: %v", err)
	}
	os.RemoveAll(filepath.Join(root, "testdata"))

	start := time.Now()
	_, err = runFuzz(ctx, root, targets[2], o, &log)
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
	if err := fuzzEnd(nil, fuzzResult{Execs: 0, Elapsed: 5 * time.Second}, "fuzz: elapsed: 5s, gathering baseline coverage: 3/900 completed\n"); err == nil || !strings.Contains(err.Error(), "stalled: 0 executions in 5s") {
		t.Errorf("0 execs: %v", err)
	}
	// The other way a stuck input ends: FAIL at the deadline, no input written.
	stuck := "fuzz: elapsed: 4s, gathering baseline coverage: 0/1 completed\n--- FAIL: FuzzHang (4.01s)\n    context deadline exceeded\nFAIL\n"
	if err := fuzzEnd(errors.New("exit status 1"), fuzzResult{Elapsed: 4 * time.Second}, stuck); err == nil || !strings.Contains(err.Error(), "stalled: 0 executions in 4s") {
		t.Errorf("deadline FAIL: %v", err)
	}
	// A real finding that also mentions a deadline stays a failure.
	found := "--- FAIL: FuzzX (0.10s)\n    x_test.go:9: context deadline exceeded\n    Failing input written to testdata/fuzz/FuzzX/abc\n"
	if err := fuzzEnd(errors.New("exit status 1"), fuzzResult{}, found); err == nil || !strings.Contains(err.Error(), "failed (") {
		t.Errorf("finding: %v", err)
	}
	if err := fuzzEnd(nil, fuzzResult{Execs: 10}, ""); err != nil {
		t.Errorf("10 execs: %v", err)
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
