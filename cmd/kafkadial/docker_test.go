package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/dockertest"
	"github.com/miekg/dns"
)

const tcpnameImage = "github.com/kafkadial/kafkadial/internal/dockertest/tcpname"

// The --docker commands against the real engine (bash .ci/docker-setup
// starts one): containers of a FROM-scratch image that answers "NAME
// PORT", with the environment a Kafka image takes.
func TestDockerCommands(t *testing.T) {
	e := dockertest.Need(t)
	img := e.Image(tcpnameImage)
	n := e.Network("cli")
	project := "--label=com.docker.compose.project=" + e.Run
	k1 := e.Start("--name", e.Name("k1"), project, "--network", n.Name, "--network-alias", "kafka-1", "-p", "127.0.0.1::29092",
		"-e", "NAME=k1", "-e", "KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://kafka-1:29092", "-e", "KAFKA_LISTENERS=PLAINTEXT://0.0.0.0:29092",
		img, "29092")
	k2 := e.Start("--name", e.Name("k2"), project, "--network", n.Name, "--network-alias", "kafka-2", "-p", "127.0.0.1::29092",
		"-e", "NAME=k2",
		"-e", "KAFKA_CFG_ADVERTISED_LISTENERS=INTERNAL://kafka-2:9092,EXTERNAL://kafka-2:29092",
		"-e", "KAFKA_CFG_LISTENERS=INTERNAL://:9092,EXTERNAL://:29092",
		"-e", "KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
		img, "29092", "9092")
	k3 := e.Start("--name", e.Name("k3"), project, "--network", n.Name, "--network-alias", "kafka-3",
		"-e", "NAME=k3", "-e", "KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://kafka-3:29092", img, "29092")
	e.Start("--name", e.Name("other"), project, "--network", n.Name, img, "80")
	p1, p2 := e.Published(k1, 29092), e.Published(k2, 29092)
	host := "--docker-host=" + e.Host

	t.Run("from-docker named", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "rules", "from-docker", host, e.Name("k1"), e.Name("k2"))
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		if fs, err := dialer.Check(dialer.WithNamedRules("derived", stdout)); err != nil || len(fs) > 0 {
			t.Fatalf("derived rules do not check clean: %v %v\n%s", err, fs, stdout)
		}
		got := ruleLines(stdout)
		want := []string{"kafka-1:29092 => " + p1, "kafka-2:29092 => " + p2}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("rules %q, want %q\n%s", got, want, stdout)
		}
		mustContain(t, "from-docker output", stdout,
			"# kafkadial rules derived by `kafkadial rules from-docker` from",
			"#   docker engine at "+e.Host,
			"a random host port, which changes when the container restarts",
			"# kafka-2:9092 is not reachable from the host: listener INTERNAL: container port 9092 is not published: it serves containers on its network; host clients use listener EXTERNAL",
			"# container "+e.Name("k2"),
			p1+" => =", // bootstrap addresses kept as they are
		)
		t.Log("\n" + stdout)
	})

	t.Run("from-docker project, one broker unreachable", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "rules", "from-docker", host, "-p", e.Run)
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
		}
		if len(ruleLines(stdout)) != 2 {
			t.Fatalf("want the two reachable brokers' rules:\n%s", stdout)
		}
		mustContain(t, "output", stdout, "# container "+e.Name("k3"), "# kafka-3:29092 is not reachable from the host",
			"publish it (docker run -p 127.0.0.1::29092, or compose ports: [\"29092\"])")
		mustContain(t, "stderr", stderr, "container "+e.Name("k3")+": the host reaches none of the addresses this broker advertises")
		if strings.Contains(stdout, e.Name("other")) {
			t.Fatalf("a container without Kafka configuration is listed:\n%s", stdout)
		}

		code, stdout, _ = runCLI(t, "rules", "from-docker", host, "-p", e.Run, "--json")
		var res struct {
			Engine   string `json:"engine"`
			Files    []string
			Rules    []string
			Services []struct {
				Service string
			}
			OK bool
		}
		if err := json.Unmarshal([]byte(stdout), &res); err != nil || code != 1 {
			t.Fatalf("--json: exit %d, %v\n%s", code, err, stdout)
		}
		if res.Engine != e.Host || len(res.Services) != 3 || len(res.Rules) != 2 || res.OK {
			t.Fatalf("--json: %+v", res)
		}
	})

	t.Run("from-docker errors", func(t *testing.T) {
		code, _, stderr := runCLI(t, "rules", "from-docker", host, e.Name("nosuch"))
		if code != 1 || !strings.Contains(stderr, `no container "`+e.Name("nosuch")+`"`) {
			t.Fatalf("unknown container: exit %d\n%s", code, stderr)
		}
		code, _, stderr = runCLI(t, "rules", "from-docker", "--docker-host=unix:///nonexistent/docker.sock")
		if code != 2 || !strings.Contains(stderr, "no engine answers at unix:///nonexistent/docker.sock") {
			t.Fatalf("no engine: exit %d\n%s", code, stderr)
		}
		e.Must("stop", "-t", "1", k3)
		code, stdout, stderr := runCLI(t, "rules", "from-docker", host, e.Name("k3"))
		if code != 1 || !strings.Contains(stderr, "the container is exited") {
			t.Fatalf("stopped container: exit %d\n%s\n%s", code, stdout, stderr)
		}
		e.Must("start", k3)
	})

	t.Run("explain --docker", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "rules", "explain", "--no-env", host, "kafka-1:29092", "nosuch-kafka:1")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		rule := regexp.MustCompile(`kafka-1:29092\s+` + regexp.QuoteMeta(p1) + `\s+docker container ` + regexp.QuoteMeta(e.Name("k1")) + ` \(` + k1[:12] + `\) by alias`)
		if !rule.MatchString(stdout) || !strings.Contains(stdout, "(none: dialled as is)") {
			t.Fatalf("explain:\n%s", stdout)
		}
		code, _, stderr = runCLI(t, "rules", "explain", "--no-env", "--strict", host, "nosuch-kafka:1")
		if code != 1 || !strings.Contains(stderr, "refused under --strict") {
			t.Fatalf("--strict: exit %d\n%s", code, stderr)
		}
		code, stdout, _ = runCLI(t, "rules", "explain", "--no-env", "--docker-published-only", host, "kafka-2:9092")
		if code != 1 || !strings.Contains(stdout+"", "kafka-2:9092") {
			t.Fatalf("published only, unpublished port: exit %d\n%s", code, stdout)
		}
	})

	t.Run("dns serve --docker", func(t *testing.T) {
		srv := startDNS(t, "dns", "serve", "--docker", host, "--listen", "127.0.0.1:0", "-v")
		ask := func(name string, qtype uint16) *dns.Msg {
			t.Helper()
			m := new(dns.Msg)
			m.SetQuestion(name, qtype)
			in, err := dns.Exchange(m, srv.addr)
			if err != nil {
				t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
			}
			return in
		}
		a := e.Addr(k1, n).String()
		in := ask("kafka-1.", dns.TypeA)
		if in.Rcode != dns.RcodeSuccess || len(in.Answer) != 1 || in.Answer[0].(*dns.A).A.String() != a || !in.Authoritative {
			t.Fatalf("A kafka-1: %v", in)
		}
		// The answer reaches the container: a tool that only resolves
		// names gets there.
		c, err := net.DialTimeout("tcp", net.JoinHostPort(a, "29092"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if strings.TrimSpace(line) != "k1 29092" {
			t.Fatalf("%s:29092 answered %q", a, line)
		}
		if in := ask(strings.ToUpper(e.Name("k2"))+".", dns.TypeA); in.Rcode != dns.RcodeSuccess || len(in.Answer) != 1 {
			t.Fatalf("A by container name: %v", in)
		}
		if in := ask("kafka-1.", dns.TypeAAAA); in.Rcode != dns.RcodeSuccess || len(in.Answer) != 0 {
			t.Fatalf("AAAA kafka-1 (no IPv6): want NODATA, got %v", in)
		}
		if in := ask("nosuch-kafka.", dns.TypeA); in.Rcode != dns.RcodeRefused {
			t.Fatalf("A nosuch-kafka: want REFUSED, got %v", in)
		}
		e.Must("stop", "-t", "1", k3)
		// The server learns of the stop from the engine's events.
		for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
			in := ask("kafka-3.", dns.TypeA)
			if in.Rcode == dns.RcodeServerFailure {
				break
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("A of a stopped container: want SERVFAIL, got %v", in)
			}
		}
		e.Must("start", k3)
		srv.stop(t)
		mustContain(t, "dns serve log", srv.output(), "name=kafka-1. type=A rcode=NOERROR", "docker: answering", "is exited, not running")
	})
}

// dnsProc is kafkadial dns serve running in process.
type dnsProc struct {
	addr   string
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns, with code set
	code   int
	mu     sync.Mutex
	log    strings.Builder
}

func (p *dnsProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

func (p *dnsProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

var dockerServingOn = regexp.MustCompile(`serving .* on (\S+) \(UDP and TCP\)`)

func startDNS(t *testing.T, args ...string) *dnsProc {
	t.Helper()
	p := &dnsProc{done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.code = run(ctx, args, io.Discard, p); close(p.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
	})
	for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(10 * time.Millisecond) {
		if m := dockerServingOn.FindStringSubmatch(p.output()); m != nil {
			p.addr = m[1]
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("dns serve exited %d:\n%s", p.code, p.output())
		default:
		}
	}
	t.Fatalf("dns serve did not start:\n%s", p.output())
	return nil
}

func (p *dnsProc) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	select {
	case <-p.done:
		if p.code != 0 || !strings.Contains(p.output(), "stopped") {
			t.Fatalf("dns serve exit %d:\n%s", p.code, p.output())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("dns serve did not stop:\n%s", p.output())
	}
}
