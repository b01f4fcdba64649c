package integration

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/testpeers"
	"github.com/kafkadial/kafkadial/proxy"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Helpers of the proxy fault tests (proxy_faults*_test.go): issue 16's
// "Faults", each against real peers, counting what arrives.

// faultProxy starts an in-process proxy for bootstrap through d, logging
// at debug level into the returned buffer; it is closed when the test
// ends.
func faultProxy(t testing.TB, bootstrap string, d proxy.ContextDialer, opts ...proxy.Option) (*proxy.Proxy, *testpeers.SyncBuffer) {
	t.Helper()
	return faultProxyLog(t, slog.LevelDebug, bootstrap, d, opts...)
}

// faultProxyLog is faultProxy logging at level: Info keeps a line per
// connection out of a test that counts the heap.
func faultProxyLog(t testing.TB, level slog.Level, bootstrap string, d proxy.ContextDialer, opts ...proxy.Option) (*proxy.Proxy, *testpeers.SyncBuffer) {
	t.Helper()
	logs := &testpeers.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
	p, err := proxy.New(bootstrap, d, append([]proxy.Option{proxy.WithListen("127.0.0.1:0"), proxy.WithLogger(log)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatalf("proxy Start: %v", err)
	}
	t.Cleanup(func() {
		p.Close()
		if t.Failed() {
			t.Logf("proxy log:\n%s", lastLines(logs.String(), 40))
		}
	})
	return p, logs
}

// directDialer is a kafkadial dialer with the given rules (none: every
// address dialled as it is) and nothing of this machine's environment.
func directDialer(t testing.TB, rules string) *dialer.Dialer {
	t.Helper()
	opts := []dialer.Option{dialer.WithGetenv(func(string) string { return "" })}
	if rules != "" {
		opts = append(opts, dialer.WithRules(rules), dialer.WithStrict())
	}
	d, err := dialer.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// seqValue is the payload of record i of a run: its sequence number makes
// loss and duplicates countable.
func seqValue(prefix string, i int) string { return fmt.Sprintf("%s-%07d", prefix, i) }

// wantExactlyOnce checks that counts holds seqValue(prefix, 0..n-1) once
// each and nothing else.
func wantExactlyOnce(t testing.TB, counts map[string]int, prefix string, n int) {
	t.Helper()
	wantOnceBut(t, counts, prefix, n, nil)
}

// wantOnceBut is wantExactlyOnce where the values in twice may also come
// twice (not more).
func wantOnceBut(t testing.TB, counts map[string]int, prefix string, n int, twice map[string]bool) {
	t.Helper()
	var missing, dup []string
	for i := range n {
		v := seqValue(prefix, i)
		switch c := counts[v]; {
		case c == 0:
			missing = append(missing, v)
		case c > 2 || c == 2 && !twice[v]:
			dup = append(dup, fmt.Sprintf("%s×%d", v, c))
		}
	}
	extra := len(counts) - (n - len(missing))
	if len(missing)+len(dup)+extra > 0 {
		t.Fatalf("want each of %d records once: %d missing %v, %d duplicated %v, %d unknown values",
			n, len(missing), head(missing, 5), len(dup), head(dup, 5), extra)
	}
}

func head(s []string, n int) []string { return s[:min(n, len(s))] }

// endOffsets asks the brokers, through seed, for every partition's log
// start and high watermark; how many records a partition holds is the
// difference (no transactions here: one offset per record).
func endOffsets(t testing.TB, ctx context.Context, seed, topic string) (start, end map[int32]int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mr, err := meta.RequestWith(ctx, cl)
	if err != nil || len(mr.Topics) != 1 || mr.Topics[0].ErrorCode != 0 {
		t.Fatalf("metadata of %s through %s: %v %+v", topic, seed, err, mr)
	}
	start, end = map[int32]int64{}, map[int32]int64{}
	for _, ts := range []int64{-2, -1} {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for _, p := range mr.Topics[0].Partitions {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p.Partition, ts, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl) // franz-go sends each partition to its leader
		if err != nil {
			t.Fatalf("ListOffsets through %s: %v", seed, err)
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 {
					t.Fatalf("ListOffsets %s/%d: error code %d", topic, rp.Partition, rp.ErrorCode)
				}
				if ts == -2 {
					start[rp.Partition] = rp.Offset
				} else {
					end[rp.Partition] = rp.Offset
				}
			}
		}
	}
	return start, end
}

// countRecords reads every partition of topic from start to end (as
// endOffsets reports them) with a fresh client at seed, no group, and
// returns how often each value came. It reads exactly to the end: a
// duplicate written to the log shows as an extra count.
func countRecords(t testing.TB, ctx context.Context, seed, topic string, start, end map[int32]int64) map[string]int {
	t.Helper()
	offsets := map[int32]kgo.Offset{}
	left := 0
	for p, e := range end {
		offsets[p] = kgo.NewOffset().At(start[p])
		if e > start[p] {
			left++
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	counts := map[string]int{}
	next := map[int32]int64{}
	for left > 0 {
		if ctx.Err() != nil {
			t.Fatalf("reading %s back: %d partitions short of their end after the deadline (next %v, end %v)", topic, left, next, end)
		}
		fs := cl.PollFetches(ctx)
		fs.EachError(func(tp string, p int32, err error) {
			if ctx.Err() == nil {
				t.Errorf("fetch %s/%d: %v", tp, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= end[r.Partition] {
				return // written after endOffsets asked
			}
			counts[string(r.Value)]++
			next[r.Partition] = r.Offset + 1
			if next[r.Partition] == end[r.Partition] {
				left--
			}
		})
	}
	return counts
}

// raiseNofile raises the soft limit of open files, for the test and the
// programs it starts, to want, raising the hard limit too where the
// process may (CAP_SYS_RESOURCE); else to the hard limit. It returns the
// limit in force.
func raiseNofile(t testing.TB, want uint64) uint64 {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if old.Cur >= want {
		return old.Cur
	}
	lim := syscall.Rlimit{Cur: want, Max: max(old.Max, want)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		lim = syscall.Rlimit{Cur: old.Max, Max: old.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		t.Logf("RLIMIT_NOFILE: %d wanted, the hard limit %d holds (raising it needs CAP_SYS_RESOURCE)", want, old.Max)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	return lim.Cur
}

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es) - 1 // the directory's own
}

// usage is what a leak would raise: goroutines, file descriptors, heap.
type usage struct {
	goroutines, fds int
	heap            uint64
}

func (u usage) String() string {
	return fmt.Sprintf("%d goroutines, %d fds, HeapInuse %.1f MiB", u.goroutines, u.fds, float64(u.heap)/(1<<20))
}

func measure(t testing.TB) usage {
	t.Helper()
	runtime.GC()
	runtime.GC() // a second cycle empties the sync.Pools
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{runtime.NumGoroutine(), openFDs(t), ms.HeapInuse}
}

// waitBaseline waits (bounded) until usage is back to base: goroutines and
// fds at most base's plus slack, heap at most base's plus heapSlack.
func waitBaseline(t testing.TB, base usage, slack int, heapSlack uint64, within time.Duration) usage {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		u := measure(t)
		if u.goroutines <= base.goroutines+slack && u.fds <= base.fds+slack && u.heap <= base.heap+heapSlack {
			return u
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("not back to the baseline within %s: %s, baseline %s (slack %d, heap %d KiB)\n%s",
				within, u, base, slack, heapSlack>>10, summarizeStacks(string(buf)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// summarizeStacks counts goroutines by their top frames, most first.
func summarizeStacks(all string) string {
	byTop := map[string]int{}
	for _, g := range strings.Split(all, "\n\n") {
		lines := strings.Split(g, "\n")
		var frames []string
		for i := 1; i < len(lines) && len(frames) < 3; i += 2 {
			frames = append(frames, strings.TrimSpace(lines[i]))
		}
		byTop[strings.Join(frames, " < ")]++
	}
	keys := make([]string, 0, len(byTop))
	for k := range byTop {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return byTop[keys[i]] > byTop[keys[j]] })
	var b strings.Builder
	for _, k := range head(keys, 15) {
		fmt.Fprintf(&b, "%6d %s\n", byTop[k], k)
	}
	return b.String()
}

// kfakeServe is integration/cmd/kfakeserve running as a process of its
// own, so that the proxy's goroutines, descriptors and memory (in this
// process or in the kafkadial binary) are not mixed with the brokers'.
type kfakeServe struct {
	cmd    *exec.Cmd
	exited chan struct{}
	// Listen and Advertised by node id, as kfakeserve prints them.
	Listen, Advertised map[int]string
}

var kfakeServeLine = regexp.MustCompile(`^broker (\d+) listens on (\S+), advertises (\S+)$`)

// startKfakeServe builds kfakeserve and runs it with brokers brokers on
// loopback ports the system picks, advertising advertise ("{id}" is the
// broker number), with the given topics (name:partitions).
func startKfakeServe(t testing.TB, brokers int, advertise string, topics ...string) *kfakeServe {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "kfakeserve")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/kfakeserve").CombinedOutput(); err != nil {
		t.Fatalf("building kfakeserve: %v\n%s", err, out)
	}
	args := []string{"-brokers", fmt.Sprint(brokers), "-listen", "127.0.0.1:0", "-advertise", advertise}
	for _, tp := range topics {
		args = append(args, "-topic", tp)
	}
	k := &kfakeServe{cmd: exec.Command(bin, args...), exited: make(chan struct{}), Listen: map[int]string{}, Advertised: map[int]string{}}
	var stderr testpeers.SyncBuffer
	k.cmd.Stderr = &stderr
	out, err := k.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, out)
		k.cmd.Wait()
		close(k.exited)
	}()
	t.Cleanup(func() {
		k.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-k.exited:
		case <-time.After(20 * time.Second):
			k.cmd.Process.Kill()
			<-k.exited
		}
	})
	deadline := time.After(60 * time.Second)
	for {
		select {
		case l := <-lines:
			if l == "ready" {
				if len(k.Listen) != brokers {
					t.Fatalf("kfakeserve is ready with %d of %d brokers", len(k.Listen), brokers)
				}
				return k
			}
			if m := kfakeServeLine.FindStringSubmatch(l); m != nil {
				var id int
				fmt.Sscan(m[1], &id)
				k.Listen[id], k.Advertised[id] = m[2], m[3]
			}
		case <-k.exited:
			t.Fatalf("kfakeserve exited:\n%s", stderr.String())
		case <-deadline:
			t.Fatalf("kfakeserve not ready within 60s:\n%s", stderr.String())
		}
	}
}

// Rules maps every broker's advertised address to where it listens.
func (k *kfakeServe) Rules() string {
	var b strings.Builder
	for id := range len(k.Listen) {
		fmt.Fprintf(&b, "%s => %s\n", k.Advertised[id], k.Listen[id])
	}
	return b.String()
}

// kafkaConn is a raw Kafka connection: requests written and responses
// read by hand, one at a time or pipelined.
type kafkaConn struct {
	net.Conn
	corr int32
	buf  []byte
}

func dialKafka(ctx context.Context, addr string) (*kafkaConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &kafkaConn{Conn: c}, nil
}

// send writes req (at the version it has) and returns its correlation id.
func (k *kafkaConn) send(req kmsg.Request) (int32, error) {
	k.corr++
	k.buf = appendRequest(k.buf[:0], req, k.corr)
	_, err := k.Write(k.buf)
	return k.corr, err
}

// appendRequest appends req's frame: size, header v1 or v2 (client id
// "fault"), body.
func appendRequest(b []byte, req kmsg.Request, corr int32) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 5)
	b = append(b, "fault"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

// recv reads one response frame and checks its correlation id; it
// returns the body after the correlation id.
func (k *kafkaConn) recv(corr int32) ([]byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(k, hdr[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(hdr[:4]))
	if size < 4 || size > 64<<20 {
		return nil, fmt.Errorf("response frame of %d bytes", size)
	}
	if got := int32(binary.BigEndian.Uint32(hdr[4:])); got != corr {
		return nil, fmt.Errorf("response to correlation id %d, want %d", got, corr)
	}
	if cap(k.buf) < int(size)-4 {
		k.buf = make([]byte, size-4)
	}
	body := k.buf[:size-4]
	_, err := io.ReadFull(k, body)
	return body, err
}

// kafkaAPIVersions is an ApiVersions v3 request.
func kafkaAPIVersions() kmsg.Request {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "fault", "1"
	return req
}

// apiVersions does one ApiVersions v3 round trip and checks the answer.
func (k *kafkaConn) apiVersions() error {
	corr, err := k.send(kafkaAPIVersions())
	if err != nil {
		return err
	}
	body, err := k.recv(corr)
	if err != nil {
		return err
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 3
	if err := resp.ReadFrom(body); err != nil { // header v0, always
		return fmt.Errorf("ApiVersions response: %w", err)
	}
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		return fmt.Errorf("ApiVersions: error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
	return nil
}

// metadata does one Metadata v12 round trip (a response the proxy
// rewrites) and returns the brokers' addresses by node id.
func (k *kafkaConn) metadata() (map[int32]string, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	corr, err := k.send(req)
	if err != nil {
		return nil, err
	}
	body, err := k.recv(corr)
	if err != nil {
		return nil, err
	}
	resp := kmsg.NewPtrMetadataResponse()
	resp.Version = 12
	// A flexible response's header ends in a tag buffer: empty, one 0.
	if len(body) == 0 || body[0] != 0 {
		return nil, fmt.Errorf("Metadata v12 response header: tag buffer % x", body[:min(len(body), 1)])
	}
	if err := resp.ReadFrom(body[1:]); err != nil {
		return nil, fmt.Errorf("Metadata response: %w", err)
	}
	addrs := map[int32]string{}
	for _, b := range resp.Brokers {
		addrs[b.NodeID] = net.JoinHostPort(b.Host, fmt.Sprint(b.Port))
	}
	if len(addrs) == 0 {
		return nil, errors.New("Metadata: no brokers")
	}
	return addrs, nil
}

// rtts collects round-trip times from many goroutines.
type rtts struct {
	mu sync.Mutex
	d  []time.Duration
}

func (r *rtts) add(d time.Duration) {
	r.mu.Lock()
	r.d = append(r.d, d)
	r.mu.Unlock()
}

// stats returns the count, median, 99th percentile and maximum.
func (r *rtts) stats() (n int, p50, p99, mx time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.d) == 0 {
		return 0, 0, 0, 0
	}
	s := append([]time.Duration(nil), r.d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return len(s), s[len(s)/2], s[len(s)*99/100], s[len(s)-1]
}
