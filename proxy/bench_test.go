package proxy

import (
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The data-path benchmarks run one conn's two goroutines between loopback
// TCP pairs, as in a proxy: a client that pipelines up to window requests
// and a broker that answers each with a prepared response. ns/op is per
// request and response; the bytes counted are both frames.

// benchConn starts cn's goroutines between a client and a broker conn.
func benchConn(tb testing.TB) (client, broker net.Conn) {
	p, err := New("broker:9092", noDial{})
	if err != nil {
		tb.Fatal(err)
	}
	client, clientProxy := pair(tb)
	upProxy, broker := pair(tb)
	cn := newConn(p, clientProxy, -1)
	attach(cn, upProxy)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			if err := cn.request(false); err != nil { // serve reads the first size itself
				cn.fail(err)
				return
			}
		}
	}()
	go func() { defer wg.Done(); cn.fail(cn.responses()) }()
	tb.Cleanup(func() { cn.close(); wg.Wait() })
	return client, broker
}

// attach gives cn its upstream conn, as serve does after dialling.
func attach(cn *conn, up net.Conn) {
	cn.up = up
	cn.reqW.Writer, cn.respW.Writer = up, cn.client
}

// requestFrame encodes req as a client sends it, correlation id corr.
func requestFrame(req kmsg.Request, corr int32) []byte {
	return formatter.AppendRequest(nil, req, corr)
}

// responseFrame encodes resp as a broker sends it (header tags for
// flexible versions), correlation id 0 (the benchmark broker patches it).
func responseFrame(resp kmsg.Response) []byte {
	b := make([]byte, 8, 64)
	if resp.IsFlexible() && resp.Key() != keyApiVersions {
		b = append(b, 0)
	}
	b = resp.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// runBench moves b.N requests and responses through a conn, window in
// flight at a time.
func runBench(b *testing.B, req, resp []byte, window int) {
	client, broker := benchConn(b)
	b.SetBytes(int64(len(req) + len(resp)))
	b.ReportAllocs()
	n := b.N
	brokerDone := make(chan error, 1)
	go func() {
		buf := make([]byte, len(req))
		out := append([]byte(nil), resp...)
		for i := 0; i < n; i++ {
			if _, err := io.ReadFull(broker, buf); err != nil {
				brokerDone <- err
				return
			}
			copy(out[4:8], buf[8:12]) // correlation id
			if _, err := broker.Write(out); err != nil {
				brokerDone <- err
				return
			}
		}
		brokerDone <- nil
	}()
	slots := make(chan struct{}, window)
	writerDone := make(chan error, 1)
	go func() {
		f := append([]byte(nil), req...)
		for i := 0; i < n; i++ {
			slots <- struct{}{}
			binary.BigEndian.PutUint32(f[8:], uint32(i))
			if _, err := client.Write(f); err != nil {
				writerDone <- err
				return
			}
		}
		writerDone <- nil
	}()
	got := make([]byte, len(resp))
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < n; i++ {
		if _, err := io.ReadFull(client, got); err != nil {
			b.Fatal(err)
		}
		if int(binary.BigEndian.Uint32(got[4:])) != i {
			b.Fatalf("response %d has correlation id %d", i, binary.BigEndian.Uint32(got[4:]))
		}
		<-slots
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/op")
	if err := <-writerDone; err != nil {
		b.Fatal(err)
	}
	if err := <-brokerDone; err != nil {
		b.Fatal(err)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// produceBench is an acks=all Produce v11 of one partition holding
// records bytes, and its response.
func produceBench(records int) (req, resp []byte) {
	r := kmsg.NewPtrProduceRequest()
	r.Version = 11
	r.Acks, r.TimeoutMillis = -1, 30000
	r.Topics = []kmsg.ProduceRequestTopic{{Topic: "bench", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: randomBytes(records)}}}}
	rs := kmsg.NewPtrProduceResponse()
	rs.Version = 11
	p := kmsg.NewProduceResponseTopicPartition()
	p.BaseOffset = 12345
	rs.Topics = []kmsg.ProduceResponseTopic{{Topic: "bench", Partitions: []kmsg.ProduceResponseTopicPartition{p}}}
	return requestFrame(r, 0), responseFrame(rs)
}

// fetchBench is a Fetch v16 request and a response holding records bytes
// in each of parts partitions, with no NodeEndpoints.
func fetchBench(records, parts int) (req, resp []byte) {
	r := kmsg.NewPtrFetchRequest()
	r.Version = 16
	r.MaxWaitMillis, r.MaxBytes = 500, 50<<20
	r.Topics = []kmsg.FetchRequestTopic{{TopicID: topicID}}
	rs := kmsg.NewPtrFetchResponse()
	rs.Version = 16
	t := kmsg.FetchResponseTopic{TopicID: topicID}
	for i := range parts {
		p := kmsg.NewFetchResponseTopicPartition()
		p.Partition, p.HighWatermark, p.RecordBatches = int32(i), 1<<30, randomBytes(records)
		t.Partitions = append(t.Partitions, p)
		r.Topics[0].Partitions = append(r.Topics[0].Partitions, kmsg.FetchRequestTopicPartition{Partition: int32(i), PartitionMaxBytes: 10 << 20})
	}
	rs.Topics = []kmsg.FetchResponseTopic{t}
	return requestFrame(r, 0), responseFrame(rs)
}

// BenchmarkProduce1MiB: 1 MiB acks=all produces, 4 in flight.
func BenchmarkProduce1MiB(b *testing.B) {
	req, resp := produceBench(1 << 20)
	runBench(b, req, resp, 4)
}

// BenchmarkProduceSmall: 1 KiB acks=all produces, 64 in flight.
func BenchmarkProduceSmall(b *testing.B) {
	req, resp := produceBench(1 << 10)
	runBench(b, req, resp, 64)
}

// BenchmarkFetch1MiB: Fetch v16 responses of 3 partitions of 1 MiB each,
// 2 in flight.
func BenchmarkFetch3MiB(b *testing.B) {
	req, resp := fetchBench(1<<20, 3)
	runBench(b, req, resp, 2)
}

// BenchmarkFetchSmall: Fetch v16 responses of 3 partitions of 1 KiB each,
// 64 in flight.
func BenchmarkFetchSmall(b *testing.B) {
	req, resp := fetchBench(1<<10, 3)
	runBench(b, req, resp, 64)
}

// cpuTime is the CPU time (user and system) of the process so far: on
// these shared cores wall time per op says more about other loads than
// about the proxy, CPU time less so (it counts the benchmark's client
// and broker too, the same before and after).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
