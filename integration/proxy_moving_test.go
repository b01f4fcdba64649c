package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/kafkadial/kafkadial/internal/testpeers"
	"github.com/kafkadial/kafkadial/kafkatest"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestProxyMovingPartitions: sarama and kafka-go consume through `kafkadial proxy` while one of the two partitions each
// broker leads moves to another broker. The old leaders answer the
// Fetch requests that were waiting with records of the partition they
// still lead and NOT_LEADER for the moved one — and, in the flexible
// versions (sarama's v12), NodeEndpoints naming every broker at its
// upstream address, which the proxy streams rewritten and padded to the
// size the broker sent. Each client follows the partitions and consumes
// every record once. The Fetch versions each client used are logged:
// kafka-go (v10, a reader per partition) never gets tagged fields.
//
// kcat is not run here: Debian's librdkafka 2.0.2 fetches with v11 (no
// tagged fields, so no NodeEndpoints to pad), and against kfake it stalls
// on a moved partition even when connected to the brokers directly (the
// record before the move and the one after never arrive);
// TestProxyClients runs kcat through the proxy.
func TestProxyMovingPartitions(t *testing.T) {
	c, err := kafkatest.Start(kafkatest.WithAdvertise("kafka-{id}.proxy.invalid:9092"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kf := c.Kfake()
	dir := t.TempDir()
	rules := filepath.Join(dir, "kafka.rules")
	writeFile(t, rules, c.Rules())
	bin := buildKafkadial(t, dir)
	port := testpeers.FreePortRun(t, 3)
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p := startProxyProc(t, bin, nil, 3, "--bootstrap", "kafka-1.proxy.invalid:9092", "--listen", listen, "--strict", "--no-env", "--rules", rules)

	// One Fetch observer for every subtest: it counts the requests for
	// the subtest's topic, and from the trigger-th on holds them until
	// the partitions have moved.
	var mu sync.Mutex
	var cur *movingRun
	kf.ControlKey(1, func(req kmsg.Request) (kmsg.Response, error, bool) {
		r := req.(*kmsg.FetchRequest)
		mu.Lock()
		run := cur
		mu.Unlock()
		if run == nil {
			return nil, nil, false
		}
		run.observe(kf.CurrentNode(), r)
		if run.hold() {
			kf.SleepControl(func() { <-run.ready })
		}
		return nil, nil, false
	})

	const parts, perPartition = 6, 300
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(p.Local), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(4<<10), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	value := func(part int32, i int) string { return fmt.Sprintf("%d-%04d-%s", part, i, strings.Repeat("x", 1000)) }

	for _, client := range []struct {
		name    string
		mixed   bool // fetches ask for several partitions at once
		consume func(t *testing.T, topic string, want int) []string
	}{
		{"sarama", true, func(t *testing.T, topic string, want int) []string {
			return saramaConsumeAll(t, p.Local, topic, parts, want)
		}},
		{"kafka-go", false, func(t *testing.T, topic string, want int) []string {
			return kafkaGoConsumeAll(t, ctx, p.Local, topic, parts, want)
		}},
	} {
		t.Run(client.name, func(t *testing.T) {
			topic := "moving-" + client.name
			createMovingTopic(t, ctx, prod, topic, parts)
			// Node N leads partitions N and N+3; N+3 moves to N+1.
			for part := range int32(parts) {
				if err := kf.MoveTopicPartition(topic, part, part%3); err != nil {
					t.Fatal(err)
				}
			}
			for part := range int32(parts) {
				for i := range perPartition {
					prod.Produce(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte(value(part, i))}, nil)
				}
			}
			if err := prod.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			run := &movingRun{topic: topic, trigger: 2, fired: make(chan struct{}), ready: make(chan struct{}), versions: map[int16]int{}}
			for part := range int32(parts) {
				run.leader[part] = part % 3
			}
			mu.Lock()
			cur = run
			mu.Unlock()
			defer func() {
				mu.Lock()
				cur = nil
				mu.Unlock()
				run.release()
			}()
			moved := make(chan error, 1)
			go func() {
				select {
				case <-run.fired:
				case <-ctx.Done():
					moved <- ctx.Err()
					return
				}
				// The moved partitions get a record at their new leader
				// epoch (without one, kfake answers OffsetForLeaderEpoch
				// for the epoch before as if records were lost).
				for part := int32(3); part < parts; part++ {
					if err := kf.MoveTopicPartition(topic, part, (part+1)%3); err != nil {
						moved <- err
						return
					}
					run.setLeader(part, (part+1)%3)
					if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte(value(part, 9999))}).FirstErr(); err != nil {
						moved <- err
						return
					}
				}
				run.release()
				moved <- nil
			}()

			want := parts*perPartition + 3
			got := client.consume(t, topic, want)
			select {
			case <-run.fired:
			default:
				t.Fatal("the partitions never moved: the client fetched fewer than twice")
			}
			if err := <-moved; err != nil {
				t.Fatalf("moving the partitions: %v", err)
			}
			seen := map[string]int{}
			for _, v := range got {
				if len(v) >= 7 {
					seen[v[:7]]++
				}
			}
			for part := range int32(parts) {
				for i := range perPartition {
					if k := value(part, i)[:7]; seen[k] != 1 {
						t.Errorf("record %s consumed %d times", k, seen[k])
					}
				}
				if k := value(part, 9999)[:7]; part >= 3 && seen[k] != 1 {
					t.Errorf("record %s (after the move) consumed %d times", k, seen[k])
				}
			}
			run.mu.Lock()
			defer run.mu.Unlock()
			t.Logf("%d records; Fetch versions %v; %d fetches after the move asked an old leader for a partition it leads and one that moved", len(got), run.versions, run.mixed)
			if run.mixed == 0 && client.mixed {
				t.Error("no Fetch after the move asked an old leader for a partition it leads and one that moved")
			}
		})
	}
	p.stop(t)
}

// movingRun is one subtest's view of the Fetch requests for its topic.
type movingRun struct {
	topic   string
	trigger int // the fetch that starts the move
	fired   chan struct{}
	ready   chan struct{}
	once    sync.Once

	mu       sync.Mutex
	fetches  int
	moving   bool
	leader   [6]int32
	versions map[int16]int
	mixed    int
}

func (r *movingRun) setLeader(part, node int32) {
	r.mu.Lock()
	r.leader[part] = node
	r.mu.Unlock()
}

func (r *movingRun) release() { r.once.Do(func() { close(r.ready) }) }

// observe counts a Fetch request node got; after the move started, one
// that asks node for a partition it still leads and one that moved away
// is answered with both records and NOT_LEADER (and NodeEndpoints).
func (r *movingRun) observe(node int32, req *kmsg.FetchRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var parts []int32
	for _, t := range req.Topics {
		if t.Topic == r.topic {
			for _, p := range t.Partitions {
				parts = append(parts, p.Partition)
			}
		}
	}
	if len(parts) == 0 {
		return
	}
	r.versions[req.Version]++
	r.fetches++
	if r.fetches == r.trigger {
		r.moving = true
		close(r.fired)
	}
	if !r.moving {
		return
	}
	var leads, left bool
	for _, p := range parts {
		stays := p < 3
		leads = leads || stays && r.leader[p] == node
		left = left || !stays && int32(p)%3 == node
	}
	if leads && left {
		r.mixed++
	}
}

// hold says whether a Fetch must wait for the move.
func (r *movingRun) hold() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.moving {
		return false
	}
	select {
	case <-r.ready:
		return false
	default:
		return true
	}
}

func createMovingTopic(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, parts int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, parts, 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create topic %s: error code %d", topic, code)
	}
}

// saramaConsumeAll consumes every partition of topic from the oldest
// offset until want records came, with sarama's partition consumers
// (Fetch v12 with Version 3.6).
func saramaConsumeAll(t *testing.T, seed, topic string, parts, want int) []string {
	t.Helper()
	cfg := saramaConfig()
	cfg.Consumer.Fetch.Default = 8 << 10
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cfg.Metadata.RefreshFrequency = time.Second
	cfg.Consumer.Return.Errors = true
	cons, err := sarama.NewConsumer([]string{seed}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	out := make(chan string, want)
	errs := make(chan error, 16)
	var pcs []sarama.PartitionConsumer
	for part := range int32(parts) {
		pc, err := cons.ConsumePartition(topic, part, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		pcs = append(pcs, pc)
		go func() {
			for m := range pc.Messages() {
				out <- string(m.Value)
			}
		}()
		go func() {
			for e := range pc.Errors() {
				select {
				case errs <- e:
				default:
				}
			}
		}()
	}
	defer func() {
		for _, pc := range pcs {
			pc.AsyncClose()
		}
	}()
	var got []string
	deadline := time.After(90 * time.Second)
	for len(got) < want {
		select {
		case v := <-out:
			got = append(got, v)
		case e := <-errs:
			t.Logf("sarama: %v", e)
		case <-deadline:
			t.Fatalf("sarama consumed %d of %d records", len(got), want)
		}
	}
	return got
}

// kafkaGoConsumeAll reads every partition of topic with a kafka-go Reader
// each until want records came.
func kafkaGoConsumeAll(t *testing.T, ctx context.Context, seed, topic string, parts, want int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	out := make(chan string, want)
	var wg sync.WaitGroup
	for part := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{seed}, Topic: topic, Partition: part,
			MinBytes: 1, MaxBytes: 8 << 10, MaxWait: 200 * time.Millisecond})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
						t.Logf("kafka-go partition %d: %v", part, err)
					}
					return
				}
				out <- string(m.Value)
			}
		}()
	}
	var got []string
	for len(got) < want {
		select {
		case v := <-out:
			got = append(got, v)
		case <-ctx.Done():
			t.Fatalf("kafka-go consumed %d of %d records", len(got), want)
		}
	}
	cancel()
	wg.Wait()
	return got
}
