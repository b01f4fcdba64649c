package integration

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/internal/testpeers"
	"github.com/kafkadial/kafkadial/proxy"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The proxy under faults (issue 16): a broker, the SSH bastion's
// connection and the proxy itself die while clients work through the
// proxy; afterwards every record is there exactly once.

// produceThrough produces n records seqValue(prefix, i) with franz-go's
// idempotent producer (acks=all) at seed, calling fault once, with
// records in flight, when n/10 are acknowledged and 3n/10 handed to the
// client; production goes on meanwhile. It fails the test if any record
// fails, and returns how many were acknowledged when fault began.
func produceThrough(t *testing.T, ctx context.Context, seed, topic, prefix string, n int, fault func()) int64 {
	t.Helper()
	producer, err := kgo.NewClient(
		kgo.SeedBrokers(seed),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence needs all acks; franz-go's default
		// A record whose send may have reached the broker fails when ctx
		// ends instead of being retried for ever: the test's bound.
		kgo.AllowIdempotentProduceCancellation(),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	var acked, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	var ackedAtFault int64
	for i := range n {
		if i == n*3/10 {
			for acked.Load() < int64(n/10) && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			ackedAtFault = acked.Load()
			fault()
		}
		wg.Add(1)
		producer.Produce(ctx, kgo.StringRecord(seqValue(prefix, i)), func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			acked.Add(1)
		})
	}
	wg.Wait() // bounded: ctx fails every record still unacknowledged
	if failed.Load() > 0 {
		t.Fatalf("%d of %d records failed through the proxy; first: %v", failed.Load(), n, firstErr.Load())
	}
	return ackedAtFault
}

// wantExactlyN reads topic back through seed: its partitions must hold n
// records (high watermark minus log start), each seqValue(prefix, i)
// exactly once.
func wantExactlyN(t *testing.T, ctx context.Context, seed, topic, prefix string, n int) {
	t.Helper()
	start, end := endOffsets(t, ctx, seed, topic)
	var total int64
	for p, e := range end {
		total += e - start[p]
	}
	if total != int64(n) {
		t.Errorf("the brokers hold %d records in %s, want exactly %d", total, topic, n)
	}
	wantExactlyOnce(t, countRecords(t, ctx, seed, topic, start, end), prefix, n)
}

// TestProxyFaultBrokerRestart: franz-go's idempotent producer works
// through the proxy while the brokers (a kfake cluster keeping partitions
// and producer state in a data directory) are stopped and started again
// on the same ports; afterwards the topic holds exactly the N records,
// each once.
func TestProxyFaultBrokerRestart(t *testing.T) {
	const n, topicName = 20000, "restart"
	dir := t.TempDir()
	var ports []int
	for len(ports) < 3 {
		if p := testpeers.FreePort(t); len(ports) == 0 || p != ports[len(ports)-1] {
			ports = append(ports, p)
		}
	}
	start := func() *kfake.Cluster {
		kf, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.Ports(ports...), kfake.DataDir(dir), kfake.SeedTopics(6, topicName))
		if err != nil {
			t.Fatalf("kfake on ports %v: %v", ports, err)
		}
		return kf
	}
	var mu sync.Mutex
	kf := start()
	t.Cleanup(func() { mu.Lock(); kf.Close(); mu.Unlock() })

	p, logs := faultProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), directDialer(t, ""), proxy.WithTimeout(2*time.Second))
	seed := p.Listeners()[0].Local
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()
	var took time.Duration
	at := produceThrough(t, ctx, seed, topicName, "restart", n, func() {
		mu.Lock()
		defer mu.Unlock()
		t0 := time.Now()
		kf.Close() // every connection to the brokers ends; state flushed to dir
		kf = start()
		took = time.Since(t0)
	})
	t.Logf("brokers restarted (%s down) with %d of %d records acknowledged; all acknowledged %s after the start",
		took.Round(time.Millisecond), at, n, time.Since(began).Round(time.Millisecond))
	if got := logs.String(); !strings.Contains(got, "connection ended") {
		t.Errorf("the proxy logged no connection ending with the brokers restart:\n%s", lastLines(got, 20))
	}
	wantExactlyN(t, ctx, seed, topicName, "restart", n)
}
