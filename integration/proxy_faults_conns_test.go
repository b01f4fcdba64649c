package integration

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Clients that misbehave at the proxy: they vanish mid-request, never read
// what they asked for, or come and go by the ten thousand. The proxy
// serves everybody else as before and keeps nothing of them.

// brokerConns counts the connections a kfake broker holds (kfake closes
// its side when the peer's, the proxy's upstream connection, ends), and
// among them those whose first request comes from client id "fault" (the
// raw clients of these tests, see appendRequest).
type brokerConns struct{ open, fault atomic.Int64 }

func (b *brokerConns) listen(network, addr string) (net.Listener, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	return &countingListener{Listener: ln, b: b}, nil
}

type countingListener struct {
	net.Listener
	b *brokerConns
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.b.open.Add(1)
	return &countedConn{Conn: c, b: l.b}, nil
}

type countedConn struct {
	net.Conn
	b       *brokerConns
	head    []byte // the first bytes read (only kfake's reader touches it)
	checked bool
	fault   atomic.Bool
	tag     sync.Once // tagged as "fault", or never (once closed)
	close   sync.Once
}

// clientIDAt is where a request frame's client id starts: size, key,
// version, correlation id, the id's length.
const clientIDAt = 4 + 2 + 2 + 4 + 2

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.checked {
		c.head = append(c.head, p[:n]...)
		if len(c.head) >= clientIDAt+5 {
			c.checked = true
			if string(c.head[clientIDAt:clientIDAt+5]) == "fault" {
				c.tag.Do(func() { c.fault.Store(true); c.b.fault.Add(1) })
			}
		}
	}
	return n, err
}

func (c *countedConn) Close() error {
	c.close.Do(func() {
		c.tag.Do(func() {}) // closed before it was known: never tagged
		if c.fault.Load() {
			c.b.fault.Add(-1)
		}
		c.b.open.Add(-1)
	})
	return c.Conn.Close()
}

// produceRequest is a Produce v9 request (acks=all) of one batch of n
// records of size bytes each, as a client frames it.
func produceRequest(topic string, n, size int, corr int32) []byte {
	recs := make([]kmsg.Record, n)
	for i := range recs {
		v := make([]byte, size)
		rand.Read(v)
		recs[i] = kmsg.Record{OffsetDelta: int32(i), Value: v}
	}
	batch := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(n - 1),
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n)}
	var rb []byte
	for _, r := range recs {
		rb = r.AppendTo(rb)
	}
	batch.Records = rb
	raw := batch.AppendTo(nil)
	// Length and CRC as a client computes them are not needed: the
	// request never completes.
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = raw
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return appendRequest(nil, req, corr)
}

// vanish is one way a client disappears mid-request.
type vanish struct {
	name string
	do   func(c *net.TCPConn, produce []byte) error
}

var vanishes = []vanish{
	{"two bytes of the size, then FIN", func(c *net.TCPConn, _ []byte) error {
		_, err := c.Write([]byte{0, 0})
		return err
	}},
	{"half a produce request, then FIN", func(c *net.TCPConn, produce []byte) error {
		_, err := c.Write(produce[:len(produce)/2])
		return err
	}},
	{"half a produce request, then RST", func(c *net.TCPConn, produce []byte) error {
		c.SetLinger(0)
		_, err := c.Write(produce[:len(produce)/2])
		return err
	}},
	{"the header only, then RST", func(c *net.TCPConn, produce []byte) error {
		c.SetLinger(0)
		_, err := c.Write(produce[:40])
		return err
	}},
	{"a whole fetch waiting at the broker, then RST", func(c *net.TCPConn, _ []byte) error {
		c.SetLinger(0)
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 11, -1, 5000, 1<<20, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "idle" // never written: the broker waits MaxWait
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 0, 1<<20, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		_, err := c.Write(appendRequest(nil, req, 1))
		return err
	}},
}

// TestProxyFaultClientVanishes: clients that disappear mid-request — part
// of a size, half a produce request, a header, a request the broker is
// still answering; closing with FIN or RST — each take their upstream
// connection with them promptly, while a franz-go producer working
// through the same proxy loses and duplicates nothing; afterwards the
// proxy's goroutines, descriptors and heap are back to their baseline.
func TestProxyFaultClientVanishes(t *testing.T) {
	const n, rounds, topicName = 5000, 40, "vanish"
	var bc brokerConns
	kf, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.ListenFn(bc.listen), kfake.SeedTopics(4, topicName), kfake.SeedTopics(1, "idle"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	p, logs := faultProxy(t, kf.ListenAddrs()[0], directDialer(t, ""))
	ls := p.Listeners()
	seed := ls[0].Local
	// One round trip on each listener, so that what the first use
	// allocates (pools, the dialer) is in the baseline.
	for _, l := range ls {
		kc, err := dialKafka(t.Context(), l.Local)
		if err != nil {
			t.Fatal(err)
		}
		if err := kc.apiVersions(); err != nil {
			t.Fatalf("ApiVersions at %s: %v", l.Local, err)
		}
		kc.Close()
	}
	waitFor(t, 10*time.Second, func() bool { return bc.open.Load() == 0 }, "broker connections of the warm-up closed")
	base := measure(t)
	produce := produceRequest(topicName, 64, 2048, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan int64, 1)
	go func() {
		// the producer runs beside the vanishing clients; its result
		// is checked on the test's goroutine
		done <- produceQuiet(ctx, seed, topicName, "vanish", n)
	}()
	var worst time.Duration
	for i := range rounds {
		v := vanishes[i%len(vanishes)]
		l := ls[i%len(ls)]
		c, err := net.Dial("tcp", l.Local)
		if err != nil {
			t.Fatal(err)
		}
		tc := c.(*net.TCPConn)
		if err := v.do(tc, produce); err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		// The proxy dials the broker once a client's first 4 bytes came
		// (all but the two-byte case) and forwards what follows: wait
		// until the broker reads it, so the client vanishes mid-request
		// at the broker too.
		mid := i%len(vanishes) != 0
		if mid {
			waitFor(t, 10*time.Second, func() bool { return bc.fault.Load() == 1 }, "the broker reading the request of "+v.name)
		}
		t0 := time.Now()
		tc.Close()
		waitFor(t, 10*time.Second, func() bool { return bc.fault.Load() == 0 }, "the upstream connection closed after "+v.name)
		if mid {
			worst = max(worst, time.Since(t0))
		}
	}
	var failed int64
	select {
	case failed = <-done:
	case <-ctx.Done():
		t.Fatal("the producer beside the vanishing clients did not finish in 2 minutes")
	}
	if failed != 0 {
		t.Fatalf("%d of %d records failed beside the vanishing clients", failed, n)
	}
	wantExactlyN(t, ctx, seed, topicName, "vanish", n)
	waitFor(t, 10*time.Second, func() bool { return bc.open.Load() == 0 }, "every broker connection closed")
	u := waitBaseline(t, base, 2, 2<<20, 30*time.Second)
	t.Logf("%d clients vanished mid-request; each upstream connection closed within %s of its client; baseline %s, after %s", rounds, worst.Round(time.Microsecond), base, u)
	if got := logs.String(); len(got) == 0 {
		t.Error("the proxy logged nothing")
	}
}

// produceQuiet produces n records seqValue(prefix, i) with the idempotent
// producer at seed and returns how many failed; it never touches a
// testing.T, so it can run on a goroutine of its own.
func produceQuiet(ctx context.Context, seed, topic, prefix string, n int) int64 {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.AllowIdempotentProduceCancellation(),
		kgo.ProducerLinger(0), kgo.MaxBufferedRecords(64))
	if err != nil {
		return int64(n)
	}
	defer cl.Close()
	var failed atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		cl.Produce(ctx, kgo.StringRecord(seqValue(prefix, i)), func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
			wg.Done()
		})
	}
	wg.Wait()
	return failed.Load()
}

// fetchRequest is a Fetch v11 request for partition 0 of topic from
// offset 0, up to max bytes, answered at once; pad makes the request
// itself that many bytes longer (in its rack id).
func fetchRequest(topic string, max int32, pad int) kmsg.Request {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 11, -1, 0, 1, max
	req.Rack = string(make([]byte, pad))
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 0, max, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestProxyFaultClientNeverReads: a client pipelines fetches of megabytes
// and never reads the answers. Back-pressure reaches it (its writes block
// after a bounded amount: the proxy does not buffer for it), the proxy's
// heap stays small, and meanwhile other clients' acks=all produces keep
// their round-trip times and a consumer reads what they wrote. When the
// client goes, so does everything the proxy held for it.
func TestProxyFaultClientNeverReads(t *testing.T) {
	const samples = 400
	var bc brokerConns
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ListenFn(bc.listen), kfake.SeedTopics(1, "big", "small"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	direct, err := kgo.NewClient(kgo.SeedBrokers(kf.ListenAddrs()[0]), kgo.DefaultProduceTopic("big"), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	big := make([]*kgo.Record, 4096)
	for i := range big {
		v := make([]byte, 1024)
		rand.Read(v)
		big[i] = &kgo.Record{Value: v}
	}
	if err := direct.ProduceSync(ctx, big...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	direct.Close()

	p, _ := faultProxy(t, kf.ListenAddrs()[0], directDialer(t, ""))
	seed, node0 := p.Listeners()[0].Local, p.Listeners()[1].Local
	other, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.DefaultProduceTopic("small"), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	produced := 0
	roundTrips := func() *rtts {
		var r rtts
		for range samples {
			t0 := time.Now()
			if err := other.ProduceSync(ctx, kgo.StringRecord(seqValue("small", produced))).FirstErr(); err != nil {
				t.Fatalf("produce beside the client that never reads: %v", err)
			}
			r.add(time.Since(t0))
			produced++
		}
		return &r
	}
	roundTrips() // warm-up: connections, metadata, producer id
	before := roundTrips()
	heapBefore := measure(t).heap
	brokerBefore := bc.open.Load()
	goroutinesBefore := measure(t).goroutines

	// The client that never reads: fetches of 1 MiB each, padded to
	// 30 KiB (a rack id, an int16-long string), written until a write blocks for a second.
	stuck, err := net.Dial("tcp", node0)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	const bound = 256 << 20
	frame := appendRequest(nil, fetchRequest("big", 1<<20, 30<<10), 1)
	written := 0
	for corr := int32(1); ; corr++ {
		binary.BigEndian.PutUint32(frame[8:], uint32(corr))
		stuck.SetWriteDeadline(time.Now().Add(time.Second))
		m, err := stuck.Write(frame)
		written += m
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("the client that never reads: write: %v", err)
		}
		if written > bound {
			t.Fatalf("a client that never reads wrote %d MiB of requests without blocking: the proxy buffers for it", written>>20)
		}
	}
	heapStuck := measure(t).heap
	during := roundTrips()

	// A consumer reads what the others wrote, meanwhile.
	consumer, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"small": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < produced {
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d beside the client that never reads", got, produced)
		}
		consumer.PollFetches(ctx).EachRecord(func(*kgo.Record) { got++ })
	}
	consumer.Close()

	n1, p50a, p99a, maxa := before.stats()
	_, p50b, p99b, maxb := during.stats()
	t.Logf("acks=all produce round trips over %d: before p50 %s p99 %s max %s; while a client never reads (%d KiB of requests written until its writes blocked) p50 %s p99 %s max %s; heap %.1f → %.1f MiB",
		n1, p50a, p99a, maxa, written>>10, p50b, p99b, maxb, float64(heapBefore)/(1<<20), float64(heapStuck)/(1<<20))
	if p50b > 2*p50a+2*time.Millisecond || p99b > 2*p99a+30*time.Millisecond {
		t.Errorf("others' round trips grew while a client never reads: p50 %s → %s, p99 %s → %s", p50a, p50b, p99a, p99b)
	}
	if heapStuck > heapBefore+32<<20 {
		t.Errorf("the heap grew by %.1f MiB while a client never reads", float64(heapStuck-heapBefore)/(1<<20))
	}

	stuck.Close()
	waitFor(t, 10*time.Second, func() bool { return bc.open.Load() <= brokerBefore }, "the broker connection of the client that never read closed")
	waitFor(t, 10*time.Second, func() bool { return measure(t).goroutines <= goroutinesBefore }, "the proxy's goroutines for the client that never read gone")
}

// manyConns is how many connections the 10,000-connection tests hold.
const manyConns = 10000

// openMany opens n connections spread over addrs, each with one
// ApiVersions round trip (so that the proxy has dialled its upstream),
// from a few dozen goroutines; it returns them open.
func openMany(t *testing.T, ctx context.Context, addrs []string, n int) []*kafkaConn {
	t.Helper()
	conns := make([]*kafkaConn, n)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || firstErr.Load() != nil {
					return
				}
				kc, err := dialKafka(ctx, addrs[i%len(addrs)])
				if err == nil {
					kc.SetDeadline(time.Now().Add(30 * time.Second))
					err = kc.apiVersions()
					kc.SetDeadline(time.Time{})
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("connection %d to %s: %w", i, addrs[i%len(addrs)], err))
					if kc != nil {
						kc.Close()
					}
					return
				}
				conns[i] = kc
			}
		}()
	}
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		for _, kc := range conns {
			if kc != nil {
				kc.Close()
			}
		}
		t.Fatal(err)
	}
	return conns
}

// primeGoroutines runs n goroutines at once and lets them end.
func primeGoroutines(n int) {
	var started, ended sync.WaitGroup
	release := make(chan struct{})
	for range n {
		started.Add(1)
		ended.Add(1)
		go func() {
			started.Done()
			<-release
			ended.Done()
		}()
	}
	started.Wait()
	close(release)
	ended.Wait()
}

// TestProxyFault10kConns: 10,000 clients connect to the in-process proxy
// (each with a round trip through it to the brokers, a kfakeserve process
// of their own) and go, half closing with FIN and half with RST, in as
// few waves as the open-file limit allows (three descriptors a
// connection here: client, accepted, upstream). The proxy's goroutines,
// file descriptors and heap come back to their baseline, and the next
// client is served.
func TestProxyFault10kConns(t *testing.T) {
	limit := raiseNofile(t, 3*manyConns+1024)
	k := startKfakeServe(t, 3, "kafka-{id}.fault.invalid:9092", "events:3")
	// Logs at Info: a line per connection would grow the heap measured.
	p, _ := faultProxyLog(t, slog.LevelInfo, k.Advertised[0], directDialer(t, k.Rules()))
	var addrs []string
	for _, l := range p.Listeners() {
		addrs = append(addrs, l.Local)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	warm := openMany(t, ctx, addrs, 2*len(addrs))
	for _, kc := range warm {
		kc.Close()
	}
	wave := min(manyConns, (int(limit)-openFDs(t)-512)/3)
	// The runtime keeps every goroutine descriptor it ever made (for
	// reuse, on the heap): a peak of goroutines leaves the heap larger
	// for good. Make that peak first, so that the baseline has it.
	primeGoroutines(2*wave + 1024)
	var base usage
	// The warm-up's connections end in the proxy's goroutines: settle.
	waitFor(t, 10*time.Second, func() bool {
		a := measure(t)
		b := measure(t)
		base = b
		return a.goroutines == b.goroutines && a.fds == b.fds
	}, "a steady baseline")
	if wave < manyConns/4 {
		t.Fatalf("RLIMIT_NOFILE %d allows %d connections at once, under a quarter of %d", limit, wave, manyConns)
	}

	t0 := time.Now()
	var peak usage
	for done := 0; done < manyConns; {
		n := min(wave, manyConns-done)
		conns := openMany(t, ctx, addrs, n)
		u := measure(t)
		if u.goroutines < base.goroutines+n || u.fds < base.fds+3*n {
			t.Fatalf("with %d connections open: %s (baseline %s): the proxy does not hold them", n, u, base)
		}
		if done == 0 {
			peak = u
		}
		for i, kc := range conns {
			if i%2 == 1 {
				kc.Conn.(*net.TCPConn).SetLinger(0) // RST
			}
			kc.Close()
		}
		done += n
	}
	took := time.Since(t0)
	t1 := time.Now()
	u := waitBaseline(t, base, 2, 4<<20, 60*time.Second)
	settled := time.Since(t1)
	kc := openMany(t, ctx, addrs[:1], 1)[0]
	if err := kc.apiVersions(); err != nil {
		t.Fatalf("a client after the %d: %v", manyConns, err)
	}
	kc.Close()
	t.Logf("%d connections opened and closed in waves of %d (RLIMIT_NOFILE %d) in %s; with the first wave open: %s; back to baseline %s after the last close: baseline %s, after %s",
		manyConns, wave, limit, took.Round(time.Millisecond), peak, settled.Round(time.Millisecond), base, u)
}
