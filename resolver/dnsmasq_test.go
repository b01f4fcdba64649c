package resolver

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/internal/testenv"
	"github.com/miekg/dns"
)

// dnsmasq is a real dnsmasq (Debian's) serving its own records on a
// loopback port, never forwarding anywhere, logging every query it gets.
type dnsmasq struct {
	Addr string

	mu      sync.Mutex
	lines   []string
	markers int
	started chan struct{}
}

// startDnsmasq runs dnsmasq on 127.0.0.1 with its own records (dnsmasq
// options such as "--host-record=kafka-1.corp,127.0.0.11") and stops it when
// the test ends. It answers for names under "corp" only from those records:
// other corp names get NXDOMAIN, anything else REFUSED.
func startDnsmasq(t testing.TB, records ...string) *dnsmasq {
	t.Helper()
	testenv.Need(t, "dnsmasq")
	var lastErr error
	for range 5 { // a free port can be taken between the probe and the bind
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		d, err := runDnsmasq(t, port, records)
		if err == nil {
			return d
		}
		lastErr = err
	}
	t.Fatalf("dnsmasq: %v", lastErr)
	return nil
}

func runDnsmasq(t testing.TB, port int, records []string) (*dnsmasq, error) {
	args := append([]string{
		"--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--no-poll", "--listen-address=127.0.0.1", "--bind-interfaces",
		"--port=" + strconv.Itoa(port), "--log-queries", "--log-facility=-",
		"--pid-file=", "--user=root", "--local=/corp/", "--local-ttl=300",
		"--edns-packet-max=1232",
		"--host-record=marker.corp,127.0.0.99",
	}, records...)
	cmd := exec.Command("dnsmasq", args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &dnsmasq{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), started: make(chan struct{})}
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.lines = append(d.lines, line)
			d.mu.Unlock()
			if strings.Contains(line, "started, version") {
				once.Do(func() { close(d.started) })
			}
		}
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	select {
	case <-d.started:
	case <-exited:
		return nil, fmt.Errorf("exited: %s", d.log())
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("did not start: %s", d.log())
	}
	// Started means listening; check that it answers.
	m := new(dns.Msg)
	m.SetQuestion("marker.corp.", dns.TypeA)
	if _, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, d.Addr); err != nil {
		return nil, fmt.Errorf("not answering: %v: %s", err, d.log())
	}
	return d, nil
}

func (d *dnsmasq) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.lines, "\n")
}

// Queries returns how many queries of type qtype ("A", "SRV") for name
// ("kafka-1.corp", no trailing dot) dnsmasq has received so far. It first
// sends dnsmasq a marker query and waits for it in the log: dnsmasq logs in
// the order it receives, so every earlier query is counted.
func (d *dnsmasq) Queries(t testing.TB, qtype, name string) int {
	t.Helper()
	d.mu.Lock()
	d.markers++
	marker := fmt.Sprintf("m%d.marker.corp", d.markers)
	d.mu.Unlock()
	m := new(dns.Msg)
	m.SetQuestion(marker+".", dns.TypeTXT)
	if _, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, d.Addr); err != nil {
		t.Fatalf("dnsmasq marker query: %v", err)
	}
	want := "query[TXT] " + marker + " from"
	for range 200 { // up to 2s for the log line to come through the pipe
		d.mu.Lock()
		seen, n := false, 0
		for _, l := range d.lines {
			if strings.Contains(l, want) {
				seen = true
			}
			if strings.Contains(l, "query["+qtype+"] "+name+" from") {
				n++
			}
		}
		d.mu.Unlock()
		if seen {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("dnsmasq never logged the marker query:\n%s", d.log())
	return 0
}

// freePort returns a port free on 127.0.0.1 for both UDP and TCP right now.
func freePort() (int, error) {
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		pc.Close()
		if err != nil {
			continue
		}
		ln.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no port free for both UDP and TCP")
}
