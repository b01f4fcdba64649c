package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func metadataAddrs(t *testing.T, addr string) map[int32]string {
	t.Helper()
	r := dialRaw(t, addr).do(requestFor(3, 12)).(*kmsg.MetadataResponse)
	m := map[int32]string{}
	for _, b := range r.Brokers {
		m[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	return m
}

// TestNodesLeaveAndJoin: node ids that are not 0..N-1, a node added and
// one removed while the proxy runs: each keeps its address (base+id), the
// newcomer gets one (and WithOnListen hears of it), and a restarted proxy
// gives every node the address it had.
func TestNodesLeaveAndJoin(t *testing.T) {
	c := startCluster(t, 3)
	heard := make(chan Listener, 8)
	p, _, port := startFixed(t, c, WithOnListen(func(l Listener) { heard <- l }))
	boot := p.Listeners()[0].Local
	want := func(id int32) string { return "127.0.0.1:" + strconv.Itoa(port+1+int(id)) }

	if _, _, err := c.kf.AddNode(7, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.kf.RemoveNode(1); err != nil {
		t.Fatal(err)
	}
	got := metadataAddrs(t, boot)
	if len(got) != 3 || got[0] != want(0) || got[2] != want(2) || got[7] != want(7) {
		t.Fatalf("metadata after node 7 joined and 1 left: %v, want nodes 0, 2, 7 at %s, %s, %s", got, want(0), want(2), want(7))
	}
	select {
	case l := <-heard:
		if l.NodeID != 7 || l.Local != want(7) || l.Advertised != c.names[3] {
			t.Errorf("WithOnListen heard %+v, want node 7 at %s for %s", l, want(7), c.names[3])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WithOnListen not called for node 7")
	}
	// The newcomer is served at its address.
	if got := metadataAddrs(t, want(7)); got[7] != want(7) {
		t.Errorf("metadata from node 7's listener: %v", got)
	}
	// Node 1 keeps its listener (and address) though it left.
	var ids []int32
	for _, l := range p.Listeners() {
		ids = append(ids, l.NodeID)
	}
	if fmt.Sprint(ids) != "[-1 0 1 2 7]" {
		t.Errorf("listeners of nodes %v, want [-1 0 1 2 7]", ids)
	}

	p.Close()
	lb := &logBuf{}
	p2, err := New(c.seed, c.d, WithListen("127.0.0.1:"+strconv.Itoa(port)), WithLogger(lb.logger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if got := metadataAddrs(t, boot); len(got) != 3 || got[0] != want(0) || got[2] != want(2) || got[7] != want(7) {
		t.Fatalf("after a restart: %v, want nodes 0, 2, 7 at %s, %s, %s", got, want(0), want(2), want(7))
	}
}

// TestPortTaken: a port taken at Start is a *ListenError naming the node
// and the port, and nothing stays open.
func TestPortTaken(t *testing.T) {
	c := startCluster(t, 3)
	p, _, port := startFixed(t, c)
	p.Close()
	taken, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1+2)) // node 2's
	if err != nil {
		t.Skipf("node 2's port was taken by someone else meanwhile: %v", err)
	}
	defer taken.Close()
	p2, err := New(c.seed, c.d, WithListen("127.0.0.1:"+strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	err = p2.Start(context.Background())
	var le *ListenError
	if !errors.As(err, &le) || le.NodeID != 2 || le.Addr != taken.Addr().String() {
		t.Fatalf("Start: %v, want a *ListenError for node 2 on %s", err, taken.Addr())
	}
	if ls := p2.Listeners(); len(ls) != 0 {
		t.Errorf("listeners after a failed Start: %v", ls)
	}
	// The bootstrap port is free again.
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Errorf("bootstrap port still held after a failed Start: %v", err)
	} else {
		ln.Close()
	}
	t.Log(le)
}

// TestRestartWhileConsuming: the proxy restarted (same flags, so same
// ports) while a franz-go client consumes: the client goes on without
// being made again, and every record arrives exactly once.
func TestRestartWhileConsuming(t *testing.T) {
	c := startCluster(t, 3)
	p, _, port := startFixed(t, c)
	boot := p.Listeners()[0].Local
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	prod, err := kgo.NewClient(kgo.SeedBrokers(boot), kgo.DefaultProduceTopic("t"), kgo.RetryTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cons, err := kgo.NewClient(kgo.SeedBrokers(boot), kgo.ConsumerGroup("g-restart"), kgo.ConsumeTopics("t"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RetryTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()

	const n = 200
	got := map[string]int{}
	total := 0
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			prod.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "r%04d", i)}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
	}
	consume := func(want int) {
		for len(got) < want {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d", len(got), want)
			}
			fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)]++; total++ })
		}
	}
	produce(0, n/2)
	consume(n / 4)

	p.Close()
	p2, err := New(c.seed, c.d, WithListen("127.0.0.1:"+strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p2.Close()

	produce(n/2, n)
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	consume(n)
	if total != n {
		t.Errorf("%d records consumed for %d distinct, want each once", total, n)
	}
	for v, k := range got {
		if k != 1 {
			t.Errorf("%s consumed %d times", v, k)
		}
	}
}
