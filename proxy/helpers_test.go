package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/testpeers"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// upstreamSuffix ends every name the test brokers advertise: names in
// .invalid that no resolver knows, so a client reaches a broker only
// through the proxy, and only the proxy's rules reach it.
const upstreamSuffix = ".kafka.invalid"

// cluster is a kfake cluster whose brokers advertise
// kafka-N.kafka.invalid:9092, all on port 9092 as in Kubernetes, while
// each really listens on a loopback port only the dialer's rules know.
type cluster struct {
	kf    *kfake.Cluster
	d     *dialer.Dialer
	names []string // advertised address of listener i
	seed  string
}

// maxListeners bounds the brokers a test cluster may ever have, AddNode
// included: their listeners are opened first, so the rules can name them.
const maxListeners = 8

func startCluster(t testing.TB, brokers int, opts ...kfake.Opt) *cluster {
	t.Helper()
	return startClusterNamed(t, brokers, func(i int) string { return fmt.Sprintf("kafka-%d%s:9092", i, upstreamSuffix) }, opts...)
}

// startClusterNamed is startCluster with listener i advertising name(i).
func startClusterNamed(t testing.TB, brokers int, name func(int) string, opts ...kfake.Opt) *cluster {
	t.Helper()
	var lns []net.Listener
	var rules strings.Builder
	c := &cluster{}
	for i := range maxListeners {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		name := name(i)
		c.names = append(c.names, name)
		fmt.Fprintf(&rules, "%s => %s\n", name, ln.Addr())
	}
	var mu sync.Mutex
	next := 0
	listen := func(network, addr string) (net.Listener, error) {
		mu.Lock()
		defer mu.Unlock()
		if next == len(lns) {
			return nil, errors.New("test cluster: out of listeners")
		}
		next++
		return &namedListener{lns[next-1], c.names[next-1]}, nil
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, ln := range lns[next:] {
			ln.Close()
		}
	})
	kf, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(brokers), kfake.ListenFn(listen),
		kfake.SeedTopics(3, "t")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	c.kf = kf
	c.seed = c.names[0]
	d, err := dialer.New(dialer.WithRules(rules.String()), dialer.WithStrict())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c.d = d
	return c
}

type namedListener struct {
	net.Listener
	name string
}

func (l *namedListener) Addr() net.Addr { return namedAddr(l.name) }

type namedAddr string

func (a namedAddr) Network() string { return "tcp" }
func (a namedAddr) String() string  { return string(a) }

// logBuf collects a proxy's log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// count returns how many lines contain s.
func (l *logBuf) count(s string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// waitLog waits until a line contains s.
func (l *logBuf) waitLog(t testing.TB, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.count(s) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q in:\n%s", s, l)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startProxy starts a proxy in front of c with the system picking ports.
func startProxy(t testing.TB, c *cluster, opts ...Option) (*Proxy, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	p, err := New(c.seed, c.d, append([]Option{WithListen("127.0.0.1:0"), WithLogger(lb.logger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, lb
}

// startFixed starts a proxy on fixed ports (bootstrap at a port P,
// brokers at P+1+id), trying other ports while some are taken. P..P+9 are
// free when it is chosen (node ids up to 8, so that a node that joins
// later finds its port), and below the ephemeral range, where no other
// test's connection takes one meanwhile.
func startFixed(t testing.TB, c *cluster, opts ...Option) (*Proxy, *logBuf, int) {
	t.Helper()
	for range 20 {
		port := testpeers.FreePortRun(t, 9)
		lb := &logBuf{}
		p, err := New(c.seed, c.d, append([]Option{WithListen("127.0.0.1:" + strconv.Itoa(port)), WithLogger(lb.logger())}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		err = p.Start(context.Background())
		var le *ListenError
		if errors.As(err, &le) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p, lb, port
	}
	t.Fatal("no free port range found")
	return nil, nil, 0
}

// rawConn is a client that sends kmsg requests itself.
type rawConn struct {
	t    testing.TB
	c    net.Conn
	corr int32
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{t: t, c: c}
}

var formatter = kmsg.NewRequestFormatter(kmsg.FormatterClientID("proxy-test"))

// send writes req and returns its correlation id.
func (r *rawConn) send(req kmsg.Request) int32 {
	r.t.Helper()
	r.corr++
	if _, err := r.c.Write(formatter.AppendRequest(nil, req, r.corr)); err != nil {
		r.t.Fatal(err)
	}
	return r.corr
}

// recv reads one response frame: its correlation id and body (after the
// response header).
func (r *rawConn) recv(req kmsg.Request) (int32, []byte) {
	r.t.Helper()
	var h [4]byte
	if _, err := io.ReadFull(r.c, h[:]); err != nil {
		r.t.Fatalf("reading the response to %s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	b := make([]byte, binary.BigEndian.Uint32(h[:]))
	if _, err := io.ReadFull(r.c, b); err != nil {
		r.t.Fatal(err)
	}
	corr := int32(binary.BigEndian.Uint32(b))
	b = b[4:]
	if req.IsFlexible() && req.Key() != 18 {
		n, err := skipTags(b)
		if err != nil {
			r.t.Fatal(err)
		}
		b = b[n:]
	}
	return corr, b
}

// do sends req and decodes its response.
func (r *rawConn) do(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	corr := r.send(req)
	got, b := r.recv(req)
	if got != corr {
		r.t.Fatalf("correlation id %d, want %d", got, corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(b); err != nil {
		r.t.Fatalf("%s v%d response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// waitFor polls cond until it holds, for at most 20 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
