package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kafkadial/kafkadial/internal/testenv"
)

// TestBastionExample runs the example against the topology of
// scripts/netns-topology.sh, through the bastion and through ProxyJump.
func TestBastionExample(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Need(t, "ip", "/usr/sbin/sshd", "ssh-keygen", "microsocks", "tinyproxy", "go")
	dir := t.TempDir()
	script := func(args ...string) {
		t.Helper()
		cmd := exec.Command("bash", append([]string{"../../scripts/netns-topology.sh", args[0], dir}, args[1:]...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("netns-topology.sh %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() { script("down") })
	script("up", strconv.Itoa(1+os.Getpid()%90)) // IDs 1..90; the integration suite uses 100..249
	script("brokers-start")
	env := map[string]string{}
	f, err := os.Open(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	f.Close()

	for _, rules := range []string{
		"kafka-{id}:9092 => = via ssh://bastion",
		"kafka-{id}:9092 => = via ssh://inner",
	} {
		var out bytes.Buffer
		err := run(context.Background(), &out, options{
			rules: rules, seed: "kafka-1:9092", sshConfig: env["SSH_CONFIG"], topic: "events", n: 500,
			getenv: func(string) string { return "" },
		})
		if err != nil {
			t.Fatalf("%s: %v\n%s", rules, err, out.String())
		}
		s := out.String()
		t.Log(s)
		via := strings.TrimPrefix(rules, "kafka-{id}:9092 => = via ")
		for _, want := range []string{
			"kafka-3:9092     kafka-3:9092     -rules:1   " + via,
			"produced 500 records",
			"consumed 500 records",
		} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: output lacks %q", rules, want)
			}
		}
	}
}
