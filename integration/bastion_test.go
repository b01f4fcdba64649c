package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/adapters/kafkagodial"
	"github.com/kafkadial/kafkadial/adapters/saramadial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBastion runs sarama, franz-go and kafka-go against brokers the host
// cannot reach, through each kind of hop, in the namespace topology of
// scripts/netns-topology.sh, then the fault cases.
func TestBastion(t *testing.T) {
	b := startBastionNet(t)
	b.freshBrokers(t)
	net3 := strings.TrimSuffix(b.env["BASTION_IP"], ".2")

	t.Run("host cannot reach the brokers", func(t *testing.T) {
		for _, ip := range strings.Fields(b.env["BROKER_IPS"]) {
			c, err := net.DialTimeout("tcp", ip+":9092", 3*time.Second)
			if err == nil {
				c.Close()
				t.Fatalf("the host reaches broker %s directly: the topology proves nothing", ip)
			}
			if !errors.Is(err, syscall.EHOSTUNREACH) && !errors.Is(err, syscall.ENETUNREACH) {
				t.Fatalf("direct dial to %s: %v, want no route to host", ip, err)
			}
			// ...while the bastion does reach them.
			out, err := exec.Command("ip", "netns", "exec", b.env["NS_BASTION"], "bash", "-c",
				"exec 3<>/dev/tcp/"+ip+"/9092").CombinedOutput()
			if err != nil {
				t.Fatalf("the bastion cannot reach %s: %v %s", ip, err, out)
			}
		}
		// The second bastion is reachable only through the first.
		c, err := net.DialTimeout("tcp", b.env["INNER_IP"]+":2222", 3*time.Second)
		if err == nil {
			c.Close()
			t.Fatal("the host reaches the inner bastion directly: ProxyJump would prove nothing")
		}
	})

	hops := []struct{ name, rules, log string }{
		{"ssh", "kafka-{id}:9092 => = via ssh://bastion", "sshd.log"},
		{"ssh+ProxyJump", "kafka-{id}:9092 => = via ssh://inner", "inner-sshd.log"},
		{"ssh+ProxyCommand", "kafka-{id}:9092 => = via ssh://viacmd", "sshd.log"},
		{"socks5", "kafka-{id}:9092 => " + net3 + ".5{id}:9092 via " + b.env["SOCKS_URL"], ""},
		{"socks5h", "kafka-{id}:9092 => = via " + b.env["SOCKSH_URL"], ""},
		{"http", "kafka-{id}:9092 => = via " + b.env["HTTP_URL"], ""},
	}
	const seed = "kafka-1:9092"
	for _, hop := range hops {
		t.Run(hop.name, func(t *testing.T) {
			t.Run("sarama", func(t *testing.T) {
				b.freshBrokers(t)
				d := b.dialer(t, hop.rules)
				cfg := saramaConfig()
				saramadial.Configure(cfg, d)
				testSarama(t, seed, cfg, "sarama-"+hop.name, records)
			})
			t.Run("franz-go", func(t *testing.T) {
				b.freshBrokers(t)
				d := b.dialer(t, hop.rules)
				testFranz(t, seed, "franz-"+hop.name, records, franzdial.Opt(d))
			})
			t.Run("kafka-go", func(t *testing.T) {
				b.freshBrokers(t)
				d := b.dialer(t, hop.rules)
				testKafkaGo(t, seed, "kafkago-"+hop.name, records, kafkagodial.Transport(d), kafkagodial.Dialer(d))
			})
			if hop.log != "" {
				out, _ := os.ReadFile(b.file(hop.log))
				if !strings.Contains(string(out), "Accepted publickey for root") {
					t.Errorf("%s shows no login: the hop was not used", hop.log)
				}
			}
		})
	}

	t.Run("1000 concurrent dials through one bastion", func(t *testing.T) {
		fwd := &bastionCountingDialer{}
		d := b.dialer(t, "echo:7 => "+b.env["ECHO_ADDR"]+" via ssh://bastion", dialer.WithForward(fwd))
		if err := dialMany(d, "echo:7", 1000); err != nil {
			t.Fatal(err)
		}
		if got := fwd.count.Load(); got != 1 {
			t.Fatalf("1000 dials made %d SSH connections, want 1", got)
		}
	})

	t.Run("sshd restarted during an idempotent produce", func(t *testing.T) {
		testBastionSSHDRestart(t, b)
	})

	t.Run("unknown host key refused", func(t *testing.T) {
		empty := b.file("empty_known_hosts")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := b.file("ssh_config_unknown")
		text := fmt.Sprintf("Host bastion\n  HostName %s\n  User root\n  IdentityFile %s\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile none\n",
			b.env["BASTION_IP"], b.file("id_ed25519"), empty)
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		d := b.dialerConfig(t, cfg, "kafka-{id}:9092 => = via ssh://bastion")
		_, err := d.Dial("tcp", "kafka-1:9092")
		var hke *dialer.HostKeyError
		if !errors.As(err, &hke) {
			t.Fatalf("dial: %v, want a *dialer.HostKeyError", err)
		}
		out, ferr := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", b.file("host_bastion.pub")).Output()
		if ferr != nil {
			t.Fatal(ferr)
		}
		fp := strings.Fields(string(out))[1]
		for _, want := range []string{b.env["BASTION_IP"], fp, empty, "kafka-1:9092"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
		}
	})

	t.Run("bastion vanishes silently", func(t *testing.T) {
		// Packets to the bastion are dropped, no RST, no FIN: only the
		// keepalives can tell. In-flight reads must end, not hang.
		base, err := os.ReadFile(b.env["SSH_CONFIG"])
		if err != nil {
			t.Fatal(err)
		}
		cfg := b.file("ssh_config_keepalive")
		if err := os.WriteFile(cfg, append(base, "  ServerAliveInterval 1\n  ServerAliveCountMax 2\n"...), 0o600); err != nil {
			t.Fatal(err)
		}
		d := b.dialerConfig(t, cfg, "echo:7 => "+b.env["ECHO_ADDR"]+" via ssh://bastion", dialer.WithTimeout(3*time.Second))
		c, err := d.Dial("tcp", "echo:7")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		errc := make(chan error, 1)
		go func() { _, err := c.Read(make([]byte, 1)); errc <- err }()
		link := "kd" + b.env["TOPOLOGY_ID"] + "hb"
		if out, err := exec.Command("ip", "link", "set", link, "down").CombinedOutput(); err != nil {
			t.Fatalf("ip link set %s down: %v %s", link, err, out)
		}
		start := time.Now()
		select {
		case err := <-errc:
			if err == nil || !strings.Contains(err.Error(), "keepalives") {
				t.Fatalf("in-flight read: %v, want an error about unanswered keepalives", err)
			}
			t.Logf("in-flight read ended after %s: %v", time.Since(start).Round(time.Millisecond), err)
		case <-time.After(15 * time.Second):
			t.Fatal("in-flight read still blocked 15s after the bastion vanished")
		}
		if out, err := exec.Command("ip", "link", "set", link, "up").CombinedOutput(); err != nil {
			t.Fatalf("ip link set %s up: %v %s", link, err, out)
		}
		// Back: the next dial makes a new SSH connection.
		var c2 net.Conn
		for try := 0; try < 20; try++ {
			if c2, err = d.Dial("tcp", "echo:7"); err == nil {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("dial after the bastion came back: %v", err)
		}
		defer c2.Close()
		c2.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c2.Write([]byte("back\n")); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 5)
		if _, err := io.ReadFull(c2, got); err != nil || string(got) != "back\n" {
			t.Fatalf("echo after reconnect: %q, %v", got, err)
		}
	})

	t.Run("proxy down", func(t *testing.T) {
		const timeout = 2 * time.Second
		check := func(t *testing.T, rules string, wants ...string) {
			t.Helper()
			d := b.dialer(t, rules, dialer.WithTimeout(timeout))
			start := time.Now()
			_, err := d.Dial("tcp", "kafka-1:9092")
			el := time.Since(start)
			if err == nil {
				t.Fatal("dial worked through a hop that is down")
			}
			if el > timeout+time.Second {
				t.Fatalf("dial failed after %s, want within the %s timeout", el, timeout)
			}
			var oe *net.OpError
			if !errors.As(err, &oe) || oe.Op != "dial" {
				t.Errorf("error is %T, want a *net.OpError with Op dial", err)
			}
			for _, w := range wants {
				// "a|b": either will do.
				found := false
				for _, alt := range strings.Split(w, "|") {
					found = found || strings.Contains(err.Error(), alt)
				}
				if !found {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			t.Logf("after %s: %v", el.Round(time.Millisecond), err)
		}
		b.run(t, "stop", "socks")
		check(t, "kafka-{id}:9092 => = via "+b.env["SOCKSH_URL"], "kafka-1:9092", b.env["BASTION_IP"]+":1080", "connection refused")
		b.run(t, "stop", "http")
		check(t, "kafka-{id}:9092 => = via "+b.env["HTTP_URL"], b.env["BASTION_IP"]+":3128", "connection refused")
		b.run(t, "stop", "sshd")
		check(t, "kafka-{id}:9092 => = via ssh://bastion", b.env["BASTION_IP"]+":22", "connection refused")
		// A bastion that does not answer at all: the dialer's timeout.
		// (The kernel may give up on ARP first: no route to host.)
		check(t, "kafka-{id}:9092 => = via ssh://root@"+net3+".3", net3+".3:22", "dialer timeout 2s|no route to host")
		b.run(t, "start", "socks")
		b.run(t, "start", "http")
		b.run(t, "start", "sshd")
	})
}

// testBastionSSHDRestart kills the bastion's sshd, sessions included, while
// franz-go's idempotent producer has records in flight through it; the
// producer must recover through a new SSH connection and a consumer must see
// every record exactly once.
func testBastionSSHDRestart(t *testing.T, b *bastionNet) {
	const n = 100000
	b.freshBrokers(t)
	d := b.dialer(t, "kafka-{id}:9092 => = via ssh://bastion")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	producer, err := kgo.NewClient(
		kgo.SeedBrokers("kafka-1:9092"),
		kgo.DefaultProduceTopic("events"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence needs all acks; franz-go's default
		franzdial.Opt(d),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()

	var acked, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	restarted := make(chan error, 1)
	var ackedAtKill int64
	for i := 0; i < n; i++ {
		if i == n*3/10 {
			// Kill sshd and its sessions with records in flight; it comes
			// back a moment later, while production goes on.
			for acked.Load() < n/10 && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			ackedAtKill = acked.Load()
			b.run(t, "stop", "sshd")
			go func() {
				time.Sleep(300 * time.Millisecond)
				restarted <- b.runErr("start", "sshd")
			}()
		}
		wg.Add(1)
		producer.Produce(ctx, kgo.StringRecord(fmt.Sprintf("restart-%d", i)), func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			acked.Add(1)
		})
	}
	wg.Wait()
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	if failed.Load() > 0 {
		t.Fatalf("%d records failed; first: %v", failed.Load(), firstErr.Load())
	}
	at := ackedAtKill
	t.Logf("sshd restarted with %d of %d records acked; all %d acked after it", at, n, acked.Load())
	producer.Close()

	consumer, err := kgo.NewClient(
		kgo.SeedBrokers("kafka-1:9092"),
		kgo.ConsumeTopics("events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		franzdial.Opt(d),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	seen := make(map[string]int, n)
	total := 0
	var quietSince time.Time
	for ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := consumer.PollFetches(pctx)
		pcancel()
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				t.Errorf("fetch %s/%d: %v", topic, p, err)
			}
		})
		got := 0
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++; total++; got++ })
		// Past n, keep reading a second more: a duplicate would show.
		if total >= n {
			if got > 0 || quietSince.IsZero() {
				quietSince = time.Now()
			} else if time.Since(quietSince) > time.Second {
				break
			}
		}
	}
	if total != n || len(seen) != n {
		t.Fatalf("consumed %d records, %d distinct; want exactly %d of each", total, len(seen), n)
	}
	for i := 0; i < n; i++ {
		if seen[fmt.Sprintf("restart-%d", i)] != 1 {
			t.Fatalf("record restart-%d seen %d times", i, seen[fmt.Sprintf("restart-%d", i)])
		}
	}
}

// bastionCountingDialer counts the TCP connections a dialer makes.
type bastionCountingDialer struct {
	count atomic.Int32
	d     net.Dialer
}

func (c *bastionCountingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c.count.Add(1)
	return c.d.DialContext(ctx, network, addr)
}
