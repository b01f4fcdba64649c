package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/internal/testenv"
	"github.com/kafkadial/kafkadial/internal/testpeers"
)

// proxyProc is `kafkadial proxy` running as a process of its own, as a user
// runs it: signals are real ones.
type proxyProc struct {
	cmd      *exec.Cmd
	out, err testpeers.SyncBuffer
	exited   chan struct{}
	waitErr  error
	// Local is the bootstrap listener; Nodes the broker listeners by node
	// id, as the proxy printed them; Lines its listener lines.
	Local string
	Nodes map[int32]string
	Lines []string
}

var proxyLine = regexp.MustCompile(`^(?:bootstrap|node (\d+)) on (\S+) for (\S+) (.+)$`)

// startProxyProc runs bin proxy with args (and the environment env on top
// of a bare one: PATH only) and waits until it serves, with a listener line
// for each of brokers nodes.
func startProxyProc(t testing.TB, bin string, env []string, brokers int, args ...string) *proxyProc {
	t.Helper()
	p := &proxyProc{exited: make(chan struct{}), Nodes: map[int32]string{}}
	p.cmd = exec.Command(bin, append([]string{"proxy"}, args...)...)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p.cmd.Stderr = &p.err
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.out.Write([]byte(sc.Text() + "\n"))
			select {
			case lines <- sc.Text():
			default:
			}
		}
		io.Copy(io.Discard, stdout)
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("kafkadial proxy stdout:\n%s\nstderr:\n%s", p.out.String(), lastLines(p.err.String(), 40))
		}
	})
	deadline := time.After(60 * time.Second)
	for len(p.Nodes) < brokers || p.Local == "" {
		select {
		case l := <-lines:
			m := proxyLine.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("kafkadial proxy printed %q, not a listener line", l)
			}
			p.Lines = append(p.Lines, l)
			if m[1] == "" {
				p.Local = m[2]
				continue
			}
			id, _ := strconv.Atoi(m[1])
			p.Nodes[int32(id)] = m[2]
		case <-p.exited:
			t.Fatalf("kafkadial proxy exited: %v\nstdout:\n%s\nstderr:\n%s", p.waitErr, p.out.String(), p.err.String())
		case <-deadline:
			t.Fatalf("kafkadial proxy printed %d of %d broker listeners in 60s\nstdout:\n%s\nstderr:\n%s", len(p.Nodes), brokers, p.out.String(), p.err.String())
		}
	}
	return p
}

// wantPorts checks the port scheme: node N at listen port + 1 + N.
func (p *proxyProc) wantPorts(t testing.TB, listen int) {
	t.Helper()
	for id, l := range p.Nodes {
		if want := net.JoinHostPort("127.0.0.1", strconv.Itoa(listen+1+int(id))); l != want {
			t.Errorf("node %d listens on %s, want %s (listen port + 1 + node id)", id, l, want)
		}
	}
}

// stop sends SIGTERM and wants exit status 0 within 30 s.
func (p *proxyProc) stop(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("kafkadial proxy still runs 30s after SIGTERM\n%s", p.err.String())
	}
	if p.waitErr != nil {
		t.Fatalf("kafkadial proxy after SIGTERM: %v, want exit 0\n%s", p.waitErr, p.err.String())
	}
}

// wantBrokers checks a client's "broker ID HOST:PORT" lines: every node at
// the proxy's listener, and nothing else.
func (p *proxyProc) wantBrokers(t testing.TB, client, out string) {
	t.Helper()
	seen := map[int32]string{}
	for _, l := range strings.Split(out, "\n") {
		var id int32
		var addr string
		if n, _ := fmt.Sscanf(l, "broker %d %s", &id, &addr); n == 2 {
			seen[id] = addr
		}
	}
	if len(seen) != len(p.Nodes) {
		t.Errorf("%s listed %d brokers, want %d:\n%s", client, len(seen), len(p.Nodes), out)
	}
	for id, addr := range seen {
		if addr != p.Nodes[id] {
			t.Errorf("%s sees node %d at %s, want the proxy's %s", client, id, addr, p.Nodes[id])
		}
	}
}

// needPython skips (outside CI) or fails (in CI) unless Debian's python3
// imports module.
func needPython(t testing.TB, module, pkg string) {
	t.Helper()
	testenv.Need(t, "/usr/bin/python3")
	if out, err := exec.Command("/usr/bin/python3", "-c", "import "+module).CombinedOutput(); err != nil {
		why := fmt.Sprintf("needs %s (Debian package %s; .ci/run installs it): %s", module, pkg, strings.TrimSpace(string(out)))
		if testenv.InCI() {
			t.Fatalf("%s, and CI=true", why)
		}
		t.Skip(why)
	}
}

// clientsDir holds the non-Go client scripts and kafkajs (npm ci).
const clientsDir = "testdata/clients"

// needKafkajs skips (outside CI) or fails (in CI) unless node and the
// kafkajs that .ci/run installs with npm ci are there.
func needKafkajs(t testing.TB) {
	t.Helper()
	testenv.Need(t, "node")
	if _, err := os.Stat(clientsDir + "/node_modules/kafkajs/package.json"); err != nil {
		why := "needs kafkajs: run npm ci in integration/" + clientsDir + " (.ci/run does)"
		if testenv.InCI() {
			t.Fatalf("%s, and CI=true", why)
		}
		t.Skip(why)
	}
}
