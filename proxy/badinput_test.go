package proxy

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/testcert"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// expectClosed waits for the proxy to close c, reading whatever comes.
// A reset counts as closed: the proxy closed with bytes unread.
func expectClosed(t testing.TB, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("connection not closed within %s: %v", within, err)
	}
}

// served checks that a new client is served after bad ones.
func served(t *testing.T, addr string) {
	t.Helper()
	if r := dialRaw(t, addr).do(apiVersionsRequest(3)).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Fatalf("ApiVersions after bad input: error %d", r.ErrorCode)
	}
}

func TestBadInput(t *testing.T) {
	c := startCluster(t, 1)
	p, lb := startProxy(t, c)
	boot := p.Listeners()[0].Local
	for _, tc := range []struct {
		name, send, log string
	}{
		{"TLS ClientHello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "client sent a TLS handshake to a plaintext listener"},
		{"HTTP request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "client sent an HTTP request to a Kafka listener"},
		{"2 GiB frame", "\x80\x00\x00\x00\x00\x12\x00\x03", "request frame of -2147483648 bytes"},
		{"frame over the bound", "\x10\x00\x00\x00\x00\x12\x00\x03", "request frame of 268435456 bytes"},
		{"frame too short for a header", "\x00\x00\x00\x02\x00\x12", "request frame of 2 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", boot)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			before := lb.count("closed a connection")
			if _, err := io.WriteString(conn, tc.send); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, conn, 10*time.Second)
			lb.waitLog(t, tc.log)
			waitFor(t, "one log line", func() bool { return lb.count("closed a connection") == before+1 })
			served(t, boot)
		})
	}
	// What a peer sent is shown as hex, never raw.
	if strings.Contains(lb.String(), "GET /") {
		t.Errorf("raw client bytes in the log:\n%s", lb)
	}
}

// TestManyHugeFrames: many clients announce frames over the bound at
// once; each is closed with a log line, the proxy allocates next to
// nothing for them, and the next client is served.
func TestManyHugeFrames(t *testing.T) {
	c := startCluster(t, 1)
	p, lb := startProxy(t, c)
	boot := p.Listeners()[0].Local
	served(t, boot) // warm up

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const clients = 200
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", boot)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			var h [12]byte
			binary.BigEndian.PutUint32(h[:], uint32(1<<30+i)) // 1 GiB and up
			binary.BigEndian.PutUint16(h[4:], 3)
			conn.Write(h[:])
			expectClosed(t, conn, 10*time.Second)
		}()
	}
	wg.Wait()
	waitFor(t, "a log line per client", func() bool { return lb.count("request frame of") == clients })
	runtime.GC()
	runtime.ReadMemStats(&after)
	// The test's own clients allocate too; 200 frames of 1 GiB would be
	// 200 GiB.
	if d := after.TotalAlloc - before.TotalAlloc; d > 16<<20 {
		t.Errorf("%d clients announcing 1 GiB frames: %d bytes allocated", clients, d)
	}
	if after.HeapAlloc > before.HeapAlloc+8<<20 {
		t.Errorf("heap grew from %d to %d bytes", before.HeapAlloc, after.HeapAlloc)
	}
	t.Logf("allocated %d bytes for %d clients; heap %d -> %d", after.TotalAlloc-before.TotalAlloc, clients, before.HeapAlloc, after.HeapAlloc)
	served(t, boot)
}

// TestHugeResponseFrame: a broker that announces a response frame over
// the bound closes the client with a log line; nothing that size is
// allocated.
func TestHugeResponseFrame(t *testing.T) {
	c := startCluster(t, 1)
	p, lb := startProxy(t, c, WithMaxFrame(1<<20))
	big := make([]byte, 2<<20)
	c.kf.ControlKey(3, func(req kmsg.Request) (kmsg.Response, error, bool) {
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		resp.Topics = []kmsg.MetadataResponseTopic{{Topic: kmsg.StringPtr(string(big))}}
		return resp, nil, true
	})
	rc := dialRaw(t, p.Listeners()[0].Local)
	rc.send(requestFor(3, 12))
	expectClosed(t, rc.c, 10*time.Second)
	lb.waitLog(t, "response frame of")
	served(t, p.Listeners()[0].Local)
}

// TestUpstreamTLS: a broker that speaks TLS to a proxy whose dialer does
// not is named, with the hint to --tls. Java's TLS (a Kafka broker)
// answers a plaintext request with an alert record, which is what the
// broker here sends; Go's TLS server (kfake.TLS) closes without a word,
// which the proxy cannot tell from any other close.
func TestUpstreamTLS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Read(make([]byte, 64))
			c.Write([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50}) // fatal alert: internal_error
			c.Close()
		}
	}()
	d, err := dialer.New(dialer.WithRules("kafka-0"+upstreamSuffix+":9092 => "+ln.Addr().String()), dialer.WithStrict())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	lb := &logBuf{}
	p, err := New("kafka-0"+upstreamSuffix+":9092", d, WithListen("127.0.0.1:0"), WithLogger(lb.logger()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Discovery fails with the hint; the proxy still starts.
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	lb.waitLog(t, "no metadata from the bootstrap broker")
	rc := dialRaw(t, p.Listeners()[0].Local)
	rc.send(apiVersionsRequest(3))
	expectClosed(t, rc.c, 10*time.Second)
	lb.waitLog(t, "closed a connection: "+hintUpstreamTLS)
}

// TestUpstreamUnreachable: a broker the dialer cannot reach closes the
// client promptly, with a log line naming the broker and the dialer's
// words.
func TestUpstreamUnreachable(t *testing.T) {
	c := startCluster(t, 1)
	p, lb := startProxy(t, c, WithTimeout(2*time.Second))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	gone, err := dialer.New(dialer.WithRules(c.seed+" => "+closed), dialer.WithStrict())
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	p2, err := New(c.seed, gone, WithListen("127.0.0.1:0"), WithLogger(lb.logger()), WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Start(t.Context()); err == nil || !strings.Contains(err.Error(), c.seed) {
		t.Errorf("Start with the bootstrap broker unreachable: %v, want an error naming %s", err, c.seed)
	}
	p2.Close()

	// The broker goes away while the proxy runs.
	boot := p.Listeners()[0].Local
	c.kf.Close()
	start := time.Now()
	conn, err := net.Dial("tcp", boot)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(formatter.AppendRequest(nil, apiVersionsRequest(3), 1))
	expectClosed(t, conn, 5*time.Second)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closed after %s, want within the dial timeout", d)
	}
	lb.waitLog(t, "cannot reach broker")
	if !strings.Contains(lb.String(), "broker="+c.seed) || !strings.Contains(lb.String(), "connection refused") {
		t.Errorf("log does not name the broker and the reason:\n%s", lb)
	}
}

// TestPipelining: many requests in flight on one connection, acks=0
// produces among them (no response), all answered in order.
func TestPipelining(t *testing.T) {
	c := startCluster(t, 1)
	p, _ := startProxy(t, c)
	rc := dialRaw(t, p.Listeners()[1].Local)
	const n = 3000
	go func() {
		for i := range n {
			switch i % 3 {
			case 0:
				rc.send(requestFor(3, 12))
			case 1:
				r := kmsg.NewPtrProduceRequest()
				r.SetVersion(9)
				r.Acks = 0
				r.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0}}}}
				rc.send(r)
			case 2:
				rc.send(apiVersionsRequest(3))
			}
		}
	}()
	for i := 0; i < n-n/3; i++ {
		var req kmsg.Request = requestFor(3, 12)
		if i%2 == 1 {
			req = apiVersionsRequest(3)
		}
		corr, _ := rc.recv(req)
		if want := int32(1 + i/2*3 + 2*(i%2)); corr != want {
			t.Fatalf("response %d: correlation id %d, want %d", i, corr, want)
		}
	}
}

// TestServeTLS: with WithTLS clients speak TLS to every listener, and a
// plaintext client is closed with a log line.
func TestServeTLS(t *testing.T) {
	ca, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, 3)
	p, lb := startProxy(t, c, WithTLS(srv))
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Listeners()[0].Local), kgo.DialTLSConfig(ca.Client()),
		kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 9 {
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: []byte{byte(i)}, Partition: int32(i % 3)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	wantLocal(t, p, kgoMetadata(t, t.Context(), cl))

	conn, err := net.Dial("tcp", p.Listeners()[0].Local)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(formatter.AppendRequest(nil, apiVersionsRequest(3), 1))
	expectClosed(t, conn, 10*time.Second)
	lb.waitLog(t, "did not speak TLS")
}
