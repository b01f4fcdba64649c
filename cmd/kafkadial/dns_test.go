package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsBuffer is an io.Writer safe to read while the command writes to it.
type dnsBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *dnsBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *dnsBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

var servingOn = regexp.MustCompile(` on (127\.0\.0\.1:\d+) \(UDP and TCP\)`)

func TestDNSServe(t *testing.T) {
	zone := filepath.Join(t.TempDir(), "brokers.zone")
	os.WriteFile(zone, []byte("kafka-1 A 127.0.0.1\n_29092._tcp.kafka-2 SRV 0 0 19092 kafka-1\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr dnsBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"dns", "serve", "--zone", zone, "--listen", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	var addr string
	for range 500 { // until it says where it listens; bounded
		if m := servingOn.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("exited %d: %s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if addr == "" {
		t.Fatalf("never said where it listens: %q", stderr.String())
	}
	for _, network := range []string{"udp", "tcp"} {
		m := new(dns.Msg)
		m.SetQuestion("_29092._tcp.kafka-2.", dns.TypeSRV)
		in, _, err := (&dns.Client{Net: network, Timeout: 2 * time.Second}).Exchange(m, addr)
		if err != nil {
			t.Fatal(err)
		}
		if len(in.Answer) != 1 || in.Answer[0].(*dns.SRV).Port != 19092 {
			t.Fatalf("%s SRV answer: %v", network, in)
		}
	}
	cancel() // what Ctrl-C does: main.go's signal.NotifyContext
	select {
	case code := <-done:
		if code != exitOK || !strings.Contains(stderr.String(), "stopped") {
			t.Fatalf("exit %d after cancel; stderr %q", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop after ctx was cancelled")
	}
}

func TestDNSServeErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.zone")
	os.WriteFile(bad, []byte("kafka-1 A 127.0.0.1\nkafka-2 A nope\n"), 0o644)
	good := filepath.Join(dir, "good.zone")
	os.WriteFile(good, []byte("kafka-1 A 127.0.0.1\n"), 0o644)
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"dns"}, exitUsage, "Usage:"},
		{[]string{"dns", "bogus"}, exitUsage, `unknown command "bogus"`},
		{[]string{"dns", "serve"}, exitUsage, "nothing to serve"},
		{[]string{"dns", "serve", "--zone", bad}, exitUsage, bad + ":2:14: bad A"},
		{[]string{"dns", "serve", "--zone", filepath.Join(dir, "missing")}, exitUsage, "no such file"},
		{[]string{"dns", "serve", "--forward", "corp"}, exitUsage, "want SUFFIX=SERVER"},
		{[]string{"dns", "serve", "--forward", "corp=dns.example"}, exitUsage, "want an IP address"},
		{[]string{"dns", "serve", "--zone", good, "--listen", "0.0.0.0:0"}, exitProblem, "--allow-non-loopback"},
		{[]string{"dns", "serve", "--zone", good, "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"dns", "serve", "--bogus"}, exitUsage, "flag provided but not defined"},
	} {
		var stdout, stderr dnsBuffer
		code := run(context.Background(), tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.stderr)
		}
	}
	var stdout, stderr dnsBuffer
	if code := run(context.Background(), []string{"dns", "serve", "--help"}, &stdout, &stderr); code != exitOK ||
		!strings.Contains(stdout.String(), "--zone FILE") || stderr.String() != "" {
		t.Errorf("--help: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}
