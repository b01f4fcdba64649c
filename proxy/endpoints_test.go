package proxy

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchNodeEndpointsWhileConsuming: franz-go consumes through the
// proxy with Fetch v16+ while one of the two partitions each broker leads
// moves to another broker. Each broker's next Fetch responses hold records
// of the partition it still leads and, for the moved one, NOT_LEADER with
// CurrentLeader and NodeEndpoints naming every broker at its upstream
// address (KIP-951, as kfake answers). Streamed, those responses keep
// their size: with upstream names longer than the proxy's host the
// rewritten NodeEndpoints are padded, with shorter ones they are left out
// (a Debug line) and the client refreshes its metadata. Either way the
// client follows the partitions, consumes every record once, and dials
// nothing but the proxy's listeners.
func TestFetchNodeEndpointsWhileConsuming(t *testing.T) {
	for _, tc := range []struct {
		name    string
		advert  func(int) string
		dropped bool
	}{
		{"padded", func(i int) string { return fmt.Sprintf("kafka-%d%s:9092", i, upstreamSuffix) }, false},
		{"dropped", func(i int) string { return fmt.Sprintf("b%d.test:9092", i) }, true}, // shorter than 127.0.0.1
	} {
		t.Run(tc.name, func(t *testing.T) {
			const parts = 6
			c := startClusterNamed(t, 3, tc.advert, kfake.SeedTopics(parts, "moving"))
			p, logs := startProxy(t, c)
			boot := p.Listeners()[0].Local
			// Node N leads partitions N and N+3; N+3 moves on to
			// node N+1.
			leader := map[int32]int32{}
			var movers []int32
			for part := range int32(parts) {
				leader[part] = part % 3
				if err := c.kf.MoveTopicPartition("moving", part, leader[part]); err != nil {
					t.Fatal(err)
				}
				if part >= 3 {
					movers = append(movers, part)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			const perPartition = 300
			prod, err := kgo.NewClient(kgo.SeedBrokers(boot), kgo.DefaultProduceTopic("moving"),
				kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(4<<10), kgo.MetadataMinAge(50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			value := make([]byte, 1000)
			for part := range int32(parts) {
				for i := range perPartition {
					v := append(fmt.Appendf(nil, "%d-%04d-", part, i), value...)
					prod.Produce(ctx, &kgo.Record{Partition: part, Value: v}, nil)
				}
			}
			if err := prod.Flush(ctx); err != nil {
				t.Fatal(err)
			}

			// The Fetch requests a broker gets after the move that ask
			// for a partition it still leads and one that moved away
			// are answered with records and NodeEndpoints together.
			// Fetches wait while partitions move and get a record
			// at their new leader epoch (without one, kfake answers
			// the client's OffsetForLeaderEpoch for the epoch before
			// as if records were lost).
			var mu sync.Mutex
			moved, mixed, fetches := false, 0, 0
			ready := make(chan struct{})
			c.kf.ControlKey(1, func(req kmsg.Request) (kmsg.Response, error, bool) {
				r := req.(*kmsg.FetchRequest)
				mu.Lock()
				defer mu.Unlock()
				node := c.kf.CurrentNode()
				if r.Version < 16 {
					t.Errorf("Fetch v%d, want v16+ (KIP-951)", r.Version)
				}
				fetches++
				if !moved {
					return nil, nil, false
				}
				mu.Unlock()
				c.kf.SleepControl(func() { <-ready })
				mu.Lock()
				var leads, left bool
				for _, t := range r.Topics {
					for _, p := range t.Partitions {
						leads = leads || leader[p.Partition] == node
						left = left || leader[p.Partition] != node
					}
				}
				if leads && left {
					mixed++
				}
				return nil, nil, false
			})

			var dmu sync.Mutex
			var dialled []string
			d := &net.Dialer{Timeout: 5 * time.Second}
			cons, err := kgo.NewClient(kgo.SeedBrokers(boot), kgo.ConsumeTopics("moving"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(8<<10), kgo.FetchMaxBytes(24<<10),
				kgo.MetadataMinAge(50*time.Millisecond), kgo.FetchMaxWait(200*time.Millisecond),
				kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
					dmu.Lock()
					dialled = append(dialled, host)
					dmu.Unlock()
					return d.DialContext(ctx, network, host)
				}))
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			got := map[string]int{}
			start := time.Now()
			var movedAt time.Time
			for len(got) < parts*perPartition+len(movers) {
				fs := cons.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					t.Fatalf("consumed %d of %d records (%d mixed fetches): %v", len(got), parts*perPartition+len(movers), mixed, err)
				}
				fs.EachError(func(topic string, part int32, err error) { t.Logf("fetch %s/%d: %v", topic, part, err) })
				fs.EachRecord(func(r *kgo.Record) { got[string(r.Value[:7])]++ })
				mu.Lock()
				if !moved && len(got) >= parts*perPartition/4 {
					moved, movedAt = true, time.Now()
					to := map[int32]int32{}
					for _, part := range movers {
						to[part] = (leader[part] + 1) % 3
						leader[part] = to[part]
					}
					mu.Unlock()
					for part, node := range to {
						if err := c.kf.MoveTopicPartition("moving", part, node); err != nil {
							t.Fatal(err)
						}
						v := append(fmt.Appendf(nil, "%d-9999-", part), value...)
						if err := prod.ProduceSync(ctx, &kgo.Record{Partition: part, Value: v}).FirstErr(); err != nil {
							t.Fatal(err)
						}
					}
					close(ready)
					continue
				}
				mu.Unlock()
			}
			for v, n := range got {
				if n != 1 {
					t.Errorf("record %s consumed %d times", v, n)
				}
			}
			mu.Lock()
			if mixed == 0 {
				t.Error("after the move, no Fetch asked a broker for a partition it leads and one that moved away")
			}
			t.Logf("%d records in %v, moved after %v; %d fetches, %d mixed", len(got), time.Since(start).Round(time.Millisecond), movedAt.Sub(start).Round(time.Millisecond), fetches, mixed)
			mu.Unlock()
			local := map[string]bool{}
			for _, l := range p.Listeners() {
				local[l.Local] = true
			}
			dmu.Lock()
			for _, a := range dialled {
				if !local[a] {
					t.Errorf("the client dialled %s, not a proxy listener (%v)", a, p.Listeners())
				}
			}
			dmu.Unlock()
			if n := logs.count("NodeEndpoints left out"); (n > 0) != tc.dropped {
				t.Errorf("%d responses with NodeEndpoints left out, want them %v", n, map[bool]string{true: "left out", false: "padded"}[tc.dropped])
			}
		})
	}
}
