package integration

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/internal/testpeers"
	"github.com/kafkadial/kafkadial/proxy"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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

// committedOffsets asks group's coordinator, through seed, for the
// group's committed offsets in topic.
func committedOffsets(t *testing.T, ctx context.Context, seed, group, topic string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	req.Groups = append(req.Groups, rg)
	resp, err := req.RequestWith(ctx, cl) // franz-go finds the coordinator, picks the version
	if err != nil {
		t.Fatalf("OffsetFetch %s through %s: %v", group, seed, err)
	}
	out := map[int32]int64{}
	add := func(code int16, topics []kmsg.OffsetFetchResponseTopic) {
		if code != 0 {
			t.Fatalf("OffsetFetch %s: error code %d", group, code)
		}
		for _, tp := range topics {
			for _, p := range tp.Partitions {
				if tp.Topic == topic && p.Offset >= 0 {
					out[p.Partition] = p.Offset
				}
			}
		}
	}
	add(resp.ErrorCode, resp.Topics)
	for _, g := range resp.Groups {
		gt := make([]kmsg.OffsetFetchResponseTopic, 0, len(g.Topics))
		for _, tp := range g.Topics {
			ot := kmsg.NewOffsetFetchResponseTopic()
			ot.Topic = tp.Topic
			for _, p := range tp.Partitions {
				op := kmsg.NewOffsetFetchResponseTopicPartition()
				op.Partition, op.Offset = p.Partition, p.Offset
				ot.Partitions = append(ot.Partitions, op)
			}
			gt = append(gt, ot)
		}
		add(g.ErrorCode, gt)
	}
	return out
}

// groupConsumer consumes topic in group through seed with commits it
// makes itself: after each poll, every record of it is committed
// (retried until the commit holds) before the next poll, so a record
// seen is a record committed.
type groupConsumer struct {
	cl        *kgo.Client
	committed map[int32]int64 // what this consumer last committed
	pending   map[int32]int64 // what the commit under way commits, if any
	first     map[int32]int64 // the first offset it got per partition
	retries   int             // commits that failed and were made again
	// uncertain holds the records of the polls whose commit failed
	// before it held: until it holds, the group's offsets are those
	// before the poll, and a member that rejoins meanwhile (as franz-go
	// does when its coordinator's connection dies) is given them and
	// fetches those records again. Kafka's at-least-once: these, and
	// only these, may come twice.
	uncertain map[string]bool
	seen      atomic.Int64
	// between runs after each poll and each failed commit, on the
	// test's goroutine.
	between func()
}

func newGroupConsumer(t *testing.T, seed, group, topic string) *groupConsumer {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seed),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		// Small fetches: the records take many polls, so that the fault
		// falls in the middle of consuming.
		kgo.FetchMaxBytes(16<<10),
		kgo.FetchMaxPartitionBytes(4<<10),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &groupConsumer{cl: cl, committed: map[int32]int64{}, first: map[int32]int64{}, uncertain: map[string]bool{}, between: func() {}}
}

// poll polls once, counts the records into counts, commits them (until
// the commit holds or ctx ends) and returns how many came.
func (g *groupConsumer) poll(t *testing.T, ctx context.Context, counts map[string]int) int {
	t.Helper()
	defer g.between()
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	fs := g.cl.PollFetches(pctx)
	cancel()
	fs.EachError(func(tp string, p int32, err error) {
		if ctx.Err() == nil && pctx.Err() == nil {
			t.Logf("fetch %s/%d: %v (retried by the client)", tp, p, err)
		}
	})
	recs := fs.Records()
	for _, r := range recs {
		counts[string(r.Value)]++
		if _, ok := g.first[r.Partition]; !ok {
			g.first[r.Partition] = r.Offset
		}
	}
	if len(recs) == 0 {
		return 0
	}
	g.pending = maps.Clone(g.committed)
	for _, r := range recs {
		g.pending[r.Partition] = max(g.pending[r.Partition], r.Offset+1)
	}
	for {
		err := g.cl.CommitRecords(ctx, recs...)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("commit: %v (still failing at the deadline)", err)
		}
		g.retries++
		for _, r := range recs {
			g.uncertain[string(r.Value)] = true
		}
		g.between()
	}
	g.committed, g.pending = g.pending, nil
	g.seen.Add(int64(len(recs)))
	return len(recs)
}

// TestProxyFaultProxyKilled: the kafkadial proxy binary is killed
// (SIGKILL) at a moment of its own while a franz-go consumer group member
// consumes and commits through it, and started again with the same
// flags: it listens on the same ports, the consumer goes on with the
// client it has, the group's committed offsets are what the member
// committed, a second member that takes over starts at them, and every
// record is consumed, exactly once but for those of a poll whose commit
// the kill left uncertain, which may come twice (at-least-once).
func TestProxyFaultProxyKilled(t *testing.T) {
	const n, topicName, group = 30000, "killed", "g-fault-killed"
	kf, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(6, topicName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	direct := kf.ListenAddrs()[0]
	producer, err := kgo.NewClient(kgo.SeedBrokers(direct), kgo.DefaultProduceTopic(topicName),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = kgo.StringRecord(seqValue("killed", i))
	}
	if err := producer.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	producer.Close()

	bin := buildKafkadial(t, t.TempDir())
	port := testpeers.FreePortRun(t, 3)
	args := []string{"--bootstrap", direct, "--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "--no-env", "-v"}
	p := startProxyProc(t, bin, nil, 3, args...)
	p.wantPorts(t, port)

	counts := map[string]int{}
	seen := 0
	a := newGroupConsumer(t, p.Local, group, topicName)
	// The kill comes from a goroutine of its own, whatever the consumer
	// is doing (fetching, committing, between polls).
	var killedAt atomic.Int64
	var killedTime time.Time
	go func() {
		for a.seen.Load() < n/3 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		killedAt.Store(a.seen.Load())
		p.cmd.Process.Kill()
	}()
	var p2 *proxyProc
	var down time.Duration
	a.between = func() {
		if p2 != nil {
			return
		}
		select {
		case <-p.exited:
		default:
			return
		}
		killedTime = time.Now()
		p2 = startProxyProc(t, bin, nil, 3, args...)
		down = time.Since(killedTime)
		if p2.Local != p.Local || !maps.Equal(p2.Nodes, p.Nodes) {
			t.Fatalf("restarted proxy listens on %s %v, before the kill %s %v", p2.Local, p2.Nodes, p.Local, p.Nodes)
		}
		// The member's commits hold: the group has what it last
		// committed, or, if a commit was under way at the kill and
		// reached the broker, that one.
		got := committedOffsets(t, ctx, p2.Local, group, topicName)
		if !maps.Equal(got, a.committed) && (a.pending == nil || !maps.Equal(got, a.pending)) {
			t.Fatalf("after the restart the group's committed offsets are %v; the member committed %v (under way: %v)", got, a.committed, a.pending)
		}
	}
	for p2 == nil || seen < n*2/3 {
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d (proxy restarted: %v), then the deadline", seen, n, p2 != nil)
		}
		seen += a.poll(t, ctx, counts)
	}
	t.Logf("proxy killed with %d of %d records consumed and committed; serving again on the same ports %s after its exit was seen; the member went on to %d",
		killedAt.Load(), n, down.Round(time.Millisecond), seen)
	a.cl.Close() // leaves the group; everything it saw is committed
	// A new member starts where the group's commits say.
	b := newGroupConsumer(t, p2.Local, group, topicName)
	for len(counts) < n { // every record, however many came twice
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records, then the deadline", len(counts), n)
		}
		seen += b.poll(t, ctx, counts)
	}
	for part, off := range b.first {
		if want := a.committed[part]; off != want {
			t.Errorf("the second member began partition %d at offset %d, the group had committed %d", part, off, want)
		}
	}
	// Nothing lost; nothing twice but the records of a poll whose commit
	// the kill left uncertain (see groupConsumer.uncertain).
	wantOnceBut(t, counts, "killed", n, a.uncertain)
	t.Logf("commits retried: %d by the member through the kill (%d records uncertain meanwhile), %d by the second",
		a.retries, len(a.uncertain), b.retries)
	p2.stop(t)
}

// descendants lists pid's descendants, deepest first.
func descendants(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, c := range strings.Fields(string(b)) {
			if cp, err := strconv.Atoi(c); err == nil {
				out = append(out, descendants(cp)...)
				out = append(out, cp)
			}
		}
	}
	return out
}

// killSSHSessions SIGKILLs every session process of the bastion's sshd
// (the children it forks per connection, and theirs), leaving the
// listening sshd alone; it returns the pids killed and waits until they
// are gone.
func killSSHSessions(t *testing.T, b *bastionNet) []int {
	t.Helper()
	raw, err := os.ReadFile(b.file("sshd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	sshd, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("sshd.pid: %v", err)
	}
	pids := descendants(sshd)
	if len(pids) == 0 {
		t.Fatalf("the bastion's sshd (pid %d) has no session process: the proxy holds no SSH connection", sshd)
	}
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	waitFor(t, 10*time.Second, func() bool {
		for _, pid := range pids {
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(st), ") Z ") {
				return false
			}
		}
		return true
	}, "the killed sshd sessions gone")
	return pids
}

// TestProxyFaultSSHSessionKilled: the proxy's upstream goes through the
// SSH bastion of the namespace topology (real OpenSSH, rule "via
// ssh://bastion"); the bastion's session processes for the proxy's SSH
// connection are SIGKILLed while franz-go's idempotent producer has
// records in flight through the proxy. The dialer opens a new SSH
// connection, and the brokers hold exactly the N records, each once.
func TestProxyFaultSSHSessionKilled(t *testing.T) {
	const n = 20000
	b := startBastionNet(t)
	b.freshBrokers(t)
	d := b.dialer(t, "kafka-{id}:9092 => = via ssh://bastion")
	p, logs := faultProxy(t, "kafka-1:9092", d)
	seed := p.Listeners()[0].Local
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	accepted := func() int {
		raw, _ := os.ReadFile(b.file("sshd.log"))
		return strings.Count(string(raw), "Accepted publickey")
	}
	var killed []int
	var sessionsBefore int
	began := time.Now()
	at := produceThrough(t, ctx, seed, "events", "ssh", n, func() {
		sessionsBefore = accepted()
		killed = killSSHSessions(t, b)
	})
	t.Logf("killed sshd session processes %v with %d of %d records acknowledged; all acknowledged %s after the start; SSH connections accepted: %d before the kill, %d after",
		killed, at, n, time.Since(began).Round(time.Millisecond), sessionsBefore, accepted())
	if accepted() <= sessionsBefore {
		t.Errorf("no new SSH connection after the kill (%d accepted before, %d after)", sessionsBefore, accepted())
	}
	if !strings.Contains(logs.String(), "connection ended") {
		t.Errorf("the proxy logged no connection ending with the SSH session:\n%s", lastLines(logs.String(), 20))
	}
	wantExactlyN(t, ctx, seed, "events", "ssh", n)
}
