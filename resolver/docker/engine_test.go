package docker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/dockertest"
	"github.com/kafkadial/kafkadial/internal/testnet"
)

// These tests run against the real engine (bash .ci/docker-setup starts
// one): containers of a FROM-scratch image holding internal/dockertest's
// tcpname, which answers each connection with "NAME PORT", so a test reads
// which container and port a dial reached.

func TestMain(m *testing.M) { os.Exit(dockertest.Main(m)) }

const tcpname = "github.com/kafkadial/kafkadial/internal/dockertest/tcpname"

func newResolver(t testing.TB, opts ...Option) *Resolver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := New(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// eventually retries f every 20ms until it succeeds or 20s pass.
func eventually(t testing.TB, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < 20*time.Second {
		if err = f(); err == nil {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: still failing after 20s: %v", what, err)
	return 0
}

// hello dials addr and returns the line the container answers.
func hello(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return readLine(c)
}

func readLine(c net.Conn) (string, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	l, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(l), err
}

func strictDialer(t testing.TB, r dialer.Resolver) *dialer.Dialer {
	t.Helper()
	d, err := dialer.New(dialer.WithStrict(), dialer.WithResolver(r), dialer.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestEngineResolve(t *testing.T) {
	e := dockertest.Need(t)
	img := e.Image(tcpname)
	n := e.Network("net")
	name := e.Name("kafka-1")
	c1 := e.Start("--name", name, "--network", n.Name, "--network-alias", "kafka-1", "--hostname", e.Name("h1"),
		"-p", "127.0.0.1::29092", "-e", "NAME=one", img, "29092", "9093")
	c2 := e.Start("--name", e.Name("wild"), "--network", n.Name, "-p", "29092", "-e", "NAME=two", img, "29092")
	r := newResolver(t, WithHost(e.Host))
	pub := e.Published(c1, 29092)
	addr := e.Addr(c1, n).String()

	t.Run("published first, then the container address", func(t *testing.T) {
		want := []string{pub, addr + ":29092"}
		for _, host := range []string{"kafka-1", "KAFKA-1.", name, e.Name("h1"), c1[:12], c1, addr} {
			got, err := r.Resolve(context.Background(), host+":29092")
			if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("Resolve(%s:29092) = %v, %v; want %v", host, got, err, want)
			}
		}
		for _, a := range want {
			if got, err := hello(a); err != nil || got != "one 29092" {
				t.Fatalf("%s answered %q, %v; want one 29092", a, got, err)
			}
		}
	})

	t.Run("-p 29092: loopback for 0.0.0.0 and ::, once per host port", func(t *testing.T) {
		// Docker 20.10 may give the 0.0.0.0 and :: bindings of one container
		// port different host ports: each is a candidate, IPv4 first.
		got, err := r.Resolve(context.Background(), e.Name("wild")+":29092")
		if err != nil || len(got) < 2 || len(got) > 3 || got[0] != e.Published(c2, 29092) || got[len(got)-1] != e.Addr(c2, n).String()+":29092" {
			t.Fatalf("Resolve = %v, %v; want [%s, maybe [::1]:PORT, container address]", got, err, e.Published(c2, 29092))
		}
		if len(got) == 3 && !strings.HasPrefix(got[1], "[::1]:") {
			t.Fatalf("Resolve = %v: the second candidate is not the :: binding on loopback", got)
		}
		for _, a := range got {
			if l, err := hello(a); err != nil || l != "two 29092" {
				t.Fatalf("%s answered %q, %v", a, l, err)
			}
		}
		t.Logf("candidates %v", got)
	})

	t.Run("strict dialer with no rules", func(t *testing.T) {
		d := strictDialer(t, r)
		conn, err := d.DialContext(context.Background(), "tcp", "kafka-1:29092")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := readLine(conn); err != nil || got != "one 29092" || conn.RemoteAddr().String() != pub {
			t.Fatalf("kafka-1:29092 reached %s, answered %q, %v; want %s", conn.RemoteAddr(), got, err, pub)
		}
		conn.Close()
		rt, err := d.Route("kafka-1:29092")
		if err != nil || rt.Rule != "" || rt.Origin != dialer.OriginResolver || rt.Target != pub || rt.ServerName != "kafka-1" ||
			rt.Detail != fmt.Sprintf("docker container %s (%s) by alias", name, c1[:12]) {
			t.Fatalf("Route = %+v, %v", rt, err)
		}
		if _, got, err := r.ResolveDetail(context.Background(), "kafka-1:29092"); err != nil || got != fmt.Sprintf("docker container %s (%s) by alias", name, c1[:12]) {
			t.Fatalf("ResolveDetail = %q, %v", got, err)
		}
		_, err = d.DialContext(context.Background(), "tcp", "nosuch-kafka:29092")
		if !errors.Is(err, dialer.ErrNoRoute) {
			t.Fatalf("unknown name: %v; want ErrNoRoute (the resolver said not found)", err)
		}
	})

	t.Run("unpublished port at the container address", func(t *testing.T) {
		got, err := r.Resolve(context.Background(), "kafka-1:9093")
		if err != nil || len(got) != 1 || got[0] != addr+":9093" {
			t.Fatalf("Resolve(kafka-1:9093) = %v, %v; want [%s:9093]", got, err, addr)
		}
		d := strictDialer(t, r)
		conn, err := d.DialContext(context.Background(), "tcp", "kafka-1:9093")
		if err != nil {
			t.Fatal(err)
		}
		if l, err := readLine(conn); err != nil || l != "one 9093" {
			t.Fatalf("answered %q, %v", l, err)
		}
		conn.Close()
	})

	t.Run("unpublished port refused under WithPublishedOnly", func(t *testing.T) {
		po := newResolver(t, WithHost(e.Host), WithPublishedOnly())
		if got, err := po.Resolve(context.Background(), "kafka-1:29092"); err != nil || len(got) != 1 || got[0] != pub {
			t.Fatalf("published port: %v, %v; want only %s", got, err, pub)
		}
		_, err := strictDialer(t, po).DialContext(context.Background(), "tcp", "kafka-1:9093")
		var ue *UnpublishedError
		if !errors.As(err, &ue) || ue.Port != 9093 || ue.Container != name {
			t.Fatalf("dial = %v; want an *UnpublishedError for %s port 9093", err, name)
		}
		for _, s := range []string{name, "9093", "publish 9093", "drop WithPublishedOnly"} {
			if !strings.Contains(err.Error(), s) {
				t.Fatalf("error %q does not say %q", err, s)
			}
		}
		t.Logf("%v", err)
		if s := po.Snapshot(); !s.PublishedOnly || s.Why != "WithPublishedOnly" {
			t.Fatalf("Snapshot = %+v", s)
		}
		if s := r.Snapshot(); s.PublishedOnly || s.Why != "" {
			t.Fatalf("this engine routes to containers, but Snapshot = %+v", s)
		}
	})

	t.Run("LookupHost", func(t *testing.T) {
		got, err := r.LookupHost(context.Background(), "kafka-1")
		if err != nil || len(got) != 1 || got[0] != addr {
			t.Fatalf("LookupHost = %v, %v; want [%s]", got, err, addr)
		}
	})
}

// The table follows the engine: stop, start on a new random port, pause,
// rename, network connect and disconnect, removal.
func TestEngineLive(t *testing.T) {
	e := dockertest.Need(t)
	img := e.Image(tcpname)
	n := e.Network("live")
	n2 := e.Network("live2")
	name := e.Name("live")
	c := e.Start("--name", name, "--network", n.Name, "--network-alias", "kafka-live", "-p", "127.0.0.1::29092", "-e", "NAME=live", img, "29092")
	r := newResolver(t, WithHost(e.Host))
	resolves := func(host, want string) func() error {
		return func() error {
			got, err := r.Resolve(context.Background(), host)
			if err != nil {
				return err
			}
			if got[0] != want {
				return fmt.Errorf("Resolve(%s) = %v, want %s first", host, got, want)
			}
			return nil
		}
	}
	fails := func(host string, target any) func() error {
		return func() error {
			_, err := r.Resolve(context.Background(), host)
			if err == nil || !errors.As(err, target) {
				return fmt.Errorf("Resolve(%s) = %v, want %T", host, err, target)
			}
			return nil
		}
	}
	p0 := e.Published(c, 29092)
	eventually(t, "first port", resolves("kafka-live:29092", p0))

	e.Must("stop", "-t", "1", c)
	var se *StoppedError
	eventually(t, "stopped", fails("kafka-live:29092", &se))
	if se.State != "exited" || !strings.Contains(se.Error(), "docker start "+name) {
		t.Fatalf("stopped: %v", se)
	}
	e.Must("start", c)
	p1 := e.Published(c, 29092)
	if p1 == p0 {
		t.Logf("the engine gave the same port again (%s)", p1)
	}
	took := eventually(t, "new port after restart", resolves("kafka-live:29092", p1))
	t.Logf("restart: %s -> %s, seen %s after docker start returned", p0, p1, took)
	if l, err := hello(p1); err != nil || l != "live 29092" {
		t.Fatalf("%s: %q, %v", p1, l, err)
	}

	e.Must("pause", c)
	eventually(t, "paused", fails("kafka-live:29092", &se))
	if se.State != "paused" || !strings.Contains(se.Error(), "docker unpause") {
		t.Fatalf("paused: %v", se)
	}
	e.Must("unpause", c)
	eventually(t, "unpaused", resolves("kafka-live:29092", p1))

	e.Must("rename", c, name+"-renamed")
	eventually(t, "renamed", resolves(name+"-renamed:29092", p1))
	var de *net.DNSError
	eventually(t, "old name gone", fails(name+":29092", &de))

	e.Must("network", "connect", "--alias", "kafka-extra", n2.Name, c)
	a2 := e.Addr(c, n2).String()
	eventually(t, "connected", func() error {
		got, err := r.Resolve(context.Background(), "kafka-extra:29092")
		if err != nil {
			return err
		}
		if strings.Join(got, ",") != strings.Join([]string{p1, e.Addr(c, n).String() + ":29092", a2 + ":29092"}, ",") {
			return fmt.Errorf("Resolve = %v", got)
		}
		return nil
	})
	e.Must("network", "disconnect", n2.Name, c)
	eventually(t, "disconnected", fails("kafka-extra:29092", &de))

	e.Must("rm", "-f", c)
	eventually(t, "removed", fails("kafka-live:29092", &de))
}

// proxy is a unix socket in front of the engine's, which a test can cut
// (close every connection) or stop and start, as an engine that restarts.
type proxy struct {
	path, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
	wg           sync.WaitGroup
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	p := &proxy{path: filepath.Join(t.TempDir(), "engine.sock"), target: target, conns: map[net.Conn]bool{}}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop(); p.wg.Wait() })
	return p
}

func (p *proxy) start() error {
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("unix", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(up, c); up.Close() }()
			go func() { defer p.wg.Done(); io.Copy(c, up); c.Close() }()
		}
	}()
	return nil
}

// cut closes every connection through the proxy.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// stop closes the listener and every connection: nothing answers.
func (p *proxy) stop() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.mu.Unlock()
	p.cut()
}

// The event stream cut: the resolver reconnects and resyncs. The engine
// gone: Resolve and dials fail naming the address; back: recovery.
func TestEngineStreamCutAndDown(t *testing.T) {
	e := dockertest.Need(t)
	sock, ok := strings.CutPrefix(e.Host, "unix://")
	if !ok {
		t.Skipf("the engine is at %s: this test stands a unix socket proxy in front of a local engine", e.Host)
	}
	img := e.Image(tcpname)
	n := e.Network("cut")
	c := e.Start("--name", e.Name("cut"), "--network", n.Name, "--network-alias", "kafka-cut", "-p", "127.0.0.1::29092", img, "29092")
	p := startProxy(t, sock)
	r := newResolver(t, WithHost("unix://"+p.path))
	first := func() (string, error) {
		got, err := r.Resolve(context.Background(), "kafka-cut:29092")
		if err != nil {
			return "", err
		}
		return got[0], nil
	}
	if got, err := first(); err != nil || got != e.Published(c, 29092) {
		t.Fatalf("before: %v, %v", got, err)
	}

	// Cut: the stream breaks, the resolver reconnects; a restart made
	// after the cut is seen.
	p.cut()
	e.Must("restart", "-t", "1", c)
	p1 := e.Published(c, 29092)
	eventually(t, "port after a cut stream", func() error {
		got, err := first()
		if err == nil && got != p1 {
			err = fmt.Errorf("got %s, want %s", got, p1)
		}
		return err
	})

	// Down: nothing answers at the address.
	p.stop()
	var ee *EngineError
	eventually(t, "engine down", func() error {
		_, err := first()
		if !errors.As(err, &ee) {
			return fmt.Errorf("Resolve = %v, want an *EngineError", err)
		}
		return nil
	})
	if ee.Host != "unix://"+p.path || ee.Since.IsZero() || !strings.Contains(ee.Error(), "does not answer") {
		t.Fatalf("engine down: %v", ee)
	}
	_, err := strictDialer(t, r).DialContext(context.Background(), "tcp", "kafka-cut:29092")
	if err == nil || !strings.Contains(err.Error(), "unix://"+p.path) || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("dial while the engine is down: %v", err)
	}
	t.Logf("while down: %v", err)
	if s := r.Snapshot(); s.Err == nil {
		t.Fatal("Snapshot.Err is nil while the engine is down")
	}

	// A change while down, then the engine back: the resolver resyncs.
	e.Must("restart", "-t", "1", c)
	p2 := e.Published(c, 29092)
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, "engine back", func() error {
		got, err := first()
		if err == nil && got != p2 {
			err = fmt.Errorf("got %s, want %s", got, p2)
		}
		return err
	})
	t.Logf("recovered %s after the engine came back", took)
}

// A real engine stopped and started again (a second dockerd of the test's
// own: the shared one serves other tests meanwhile): while it is down,
// Resolve and dials fail naming it; once it is back, with the container
// its restart policy brought back, the resolver answers again and sees
// what changes after.
func TestEngineStoppedAndStarted(t *testing.T) {
	e := dockertest.NewPrivate(t)
	img := e.Image(tcpname)
	port := freePort(t)
	name := e.Name("down")
	e.Start("--name", name, "--network", "host", "--restart", "always", "-e", "NAME="+name, img, port)
	r := newResolver(t, WithHost(e.Host))
	d := strictDialer(t, r)
	reach := func(host string) error {
		c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort(host, port))
		if err != nil {
			return err
		}
		defer c.Close()
		line, err := readLine(c)
		if err == nil && line != host+" "+port {
			err = fmt.Errorf("reached %q, want %q", line, host+" "+port)
		}
		return err
	}
	eventually(t, "before", func() error { return reach(name) })

	e.StopEngine()
	var ee *EngineError
	eventually(t, "engine stopped", func() error {
		_, err := r.Resolve(context.Background(), net.JoinHostPort(name, port))
		if !errors.As(err, &ee) {
			return fmt.Errorf("Resolve = %v, want an *EngineError", err)
		}
		return nil
	})
	if ee.Host != e.Host || ee.Since.IsZero() {
		t.Fatalf("engine stopped: %+v", ee)
	}
	err := reach(name)
	if err == nil || !strings.Contains(err.Error(), e.Host) {
		t.Fatalf("dial while the engine is stopped: %v, want an error naming %s", err, e.Host)
	}
	t.Logf("while stopped: %v", err)

	e.StartEngine()
	took := eventually(t, "engine started again", func() error { return reach(name) })
	t.Logf("answered %s after the engine was back", took)
	// Following it again: a container started now is found.
	port2 := freePort(t)
	name2 := e.Name("after")
	e.Start("--name", name2, "--network", "host", "-e", "NAME="+name2, img, port2)
	eventually(t, "a container started after the restart", func() error {
		c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort(name2, port2))
		if err != nil {
			return err
		}
		defer c.Close()
		line, err := readLine(c)
		if err == nil && line != name2+" "+port2 {
			err = fmt.Errorf("reached %q", line)
		}
		return err
	})
}

// freePort returns a TCP port nothing listens on now, for a container on
// the private engine's host network to listen on.
func freePort(t *testing.T) string {
	t.Helper()
	_, p, _ := net.SplitHostPort(testnet.ClosedAddr(t))
	return p
}

// An address where something accepts connections but never answers: New
// gives up when its context ends, naming the address.
func TestNewEngineSilent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "silent.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = New(ctx, WithHost("unix://"+path))
	var ee *EngineError
	if !errors.As(err, &ee) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), path) {
		t.Fatalf("New = %v; want an *EngineError naming %s, ended by the context", err, path)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("New returned after %s, its context ended after 500ms", d)
	}
	t.Logf("%v", err)
}
