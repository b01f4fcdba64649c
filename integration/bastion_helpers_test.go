package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/testenv"
)

// bastionNet is the topology of scripts/netns-topology.sh: the host reaches
// only a bastion (sshd, microsocks, tinyproxy) and, through it, a second
// bastion (sshd for ProxyJump); both route to a "kafka" namespace where kfake
// brokers advertise kafka-1:9092 .. kafka-3:9092.
type bastionNet struct {
	dir string
	env map[string]string
}

const bastionScript = "../scripts/netns-topology.sh"

func startBastionNet(t testing.TB) *bastionNet {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.Need(t, "ip", "/usr/sbin/sshd", "ssh-keygen", "microsocks", "tinyproxy", "nc", "go")
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "kfakeserve"), "./cmd/kfakeserve")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building kfakeserve: %v\n%s", err, out)
	}
	// An ID per process, so that two test binaries never share addresses.
	id := strconv.Itoa(100 + os.Getpid()%150)
	b := &bastionNet{dir: dir}
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"sshd.log", "inner-sshd.log", "socks.log", "http.log", "kfake.log"} {
				if out, err := os.ReadFile(filepath.Join(dir, f)); err == nil && len(out) > 0 {
					t.Logf("%s:\n%s", f, lastLines(string(out), 30))
				}
			}
		}
		b.run(t, "down")
	})
	b.run(t, "up", id)
	f, err := os.Open(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b.env = map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			b.env[k] = strings.Trim(v, `"`)
		}
	}
	return b
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// run runs a command of the topology script.
func (b *bastionNet) run(t testing.TB, args ...string) {
	t.Helper()
	start := time.Now()
	if err := b.runErr(args...); err != nil {
		t.Fatal(err)
	}
	t.Logf("netns-topology.sh %s took %s", args[0], time.Since(start).Round(time.Millisecond))
}

// runErr runs a command of the topology script; it is safe in any goroutine.
func (b *bastionNet) runErr(args ...string) error {
	cmd := exec.Command("bash", append([]string{bastionScript, args[0], b.dir}, args[1:]...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netns-topology.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// freshBrokers restarts the kfake brokers: an empty "events" topic with
// six partitions, as the client helpers of clients_test.go expect.
func (b *bastionNet) freshBrokers(t testing.TB) {
	t.Helper()
	b.run(t, "brokers-start")
}

// dialer builds a strict dialer whose ssh:// hops read the topology's
// ssh_config and nothing of this machine's environment (no agent, no ~).
func (b *bastionNet) dialer(t testing.TB, rules string, opts ...dialer.Option) *dialer.Dialer {
	t.Helper()
	return b.dialerConfig(t, b.env["SSH_CONFIG"], rules, opts...)
}

// dialerConfig is dialer with the ssh_config at sshConfig instead (one
// WithSSHConfig: given twice with different paths, New refuses it).
func (b *bastionNet) dialerConfig(t testing.TB, sshConfig, rules string, opts ...dialer.Option) *dialer.Dialer {
	t.Helper()
	d, err := dialer.New(append([]dialer.Option{
		dialer.WithStrict(),
		dialer.WithSSHConfig(sshConfig),
		dialer.WithGetenv(func(string) string { return "" }),
		dialer.WithRules(rules),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// file returns the path of a file of the topology's state directory.
func (b *bastionNet) file(name string) string { return filepath.Join(b.dir, name) }
