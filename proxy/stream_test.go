package proxy

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// streamHarness passes response frames through a conn's response side.
type streamHarness struct {
	cn             *conn
	client, broker net.Conn
}

// newStreamHarness is a conn between loopback TCP pairs (tcp: records are
// spliced) or net.Pipes (copied through a buffer), of a closed proxy (no
// listeners open for the nodes responses name; node N gets 127.0.0.1 and
// port 9093+N).
func newStreamHarness(tb testing.TB, tcp bool) *streamHarness {
	p, err := New("broker:9092", noDial{})
	if err != nil {
		tb.Fatal(err)
	}
	p.Close()
	h := &streamHarness{}
	var clientProxy, upProxy net.Conn
	if tcp {
		h.client, clientProxy = pair(tb)
		upProxy, h.broker = pair(tb)
	} else {
		h.client, clientProxy = net.Pipe()
		upProxy, h.broker = net.Pipe()
		tb.Cleanup(func() { h.client.Close(); clientProxy.Close(); upProxy.Close(); h.broker.Close() })
	}
	h.cn = newConn(p, clientProxy, -1)
	attach(h.cn, upProxy)
	return h
}

// pass has the broker send frame (size and correlation id first) as the
// response to key at version v and returns what the client got and the
// error the conn's response side returned. After an error the harness is
// spent.
func (h *streamHarness) pass(tb testing.TB, key, v int16, frame []byte) ([]byte, error) {
	h.cn.q.push(inflight{corr: int32(binary.BigEndian.Uint32(frame[4:])), key: key, version: v})
	go func() { h.broker.Write(frame) }()
	respErr := make(chan error, 1)
	go func() {
		err := h.cn.response(false)
		if err != nil {
			h.cn.client.Close()
		}
		respErr <- err
	}()
	h.client.SetReadDeadline(time.Now().Add(20 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(h.client, size[:]); err != nil {
		return nil, <-respErr
	}
	out := make([]byte, 4+binary.BigEndian.Uint32(size[:]))
	copy(out, size[:])
	_, rerr := io.ReadFull(h.client, out[4:])
	err := <-respErr
	if err == nil && rerr != nil {
		tb.Fatalf("response passed on, but the client read: %v", rerr)
	}
	return out, err
}

// upstreamHost is a broker host of length n made of characters no other
// field of the generated responses holds, so that finding it in the bytes
// a client gets is a leak.
func upstreamHost(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = "~^"[r.IntN(2)]
	}
	return string(b)
}

func randomBytes2(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// randomFetch is a Fetch response at version v as a broker may send it:
// topics, partitions with records of every size (none, empty, small,
// spliced), aborted transactions, partition tags (CurrentLeader,
// DivergingEpoch, unknown), and at the top level NodeEndpoints with host
// names shorter and longer than the proxy's, and unknown tags.
func randomFetch(r *rand.Rand, v int16) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = v
	resp.ThrottleMillis, resp.ErrorCode, resp.SessionID = r.Int32(), int16(r.IntN(3)), r.Int32()
	for range r.IntN(3) {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = strings.Repeat("t", 1+r.IntN(30))
		copy(t.TopicID[:], randomBytes2(r, 16))
		for i := range r.IntN(4) {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition, p.ErrorCode = int32(i), int16(r.IntN(2)*6)
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = r.Int64(), r.Int64(), r.Int64()
			if r.IntN(3) == 0 {
				for range 1 + r.IntN(3) {
					p.AbortedTransactions = append(p.AbortedTransactions, kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: r.Int64(), FirstOffset: r.Int64()})
				}
			}
			p.PreferredReadReplica = int32(r.IntN(3)) - 1
			switch r.IntN(4) {
			case 0:
				p.RecordBatches = nil
			case 1:
				p.RecordBatches = []byte{}
			case 2:
				p.RecordBatches = randomBytes2(r, 1+r.IntN(2000))
			case 3:
				p.RecordBatches = randomBytes2(r, spliceMin+r.IntN(64<<10))
			}
			if r.IntN(3) == 0 {
				p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = r.Int32N(5), r.Int32()
			}
			if r.IntN(4) == 0 {
				p.DivergingEpoch.Epoch, p.DivergingEpoch.EndOffset = r.Int32(), r.Int64()
			}
			if r.IntN(5) == 0 {
				p.UnknownTags.Set(uint32(10+r.IntN(200)), randomBytes2(r, r.IntN(40)))
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	if r.IntN(4) != 0 {
		for range 1 + r.IntN(5) {
			b := kmsg.NewFetchResponseBroker()
			b.NodeID, b.Host, b.Port = r.Int32N(1000), upstreamHost(r, 1+r.IntN(24)), 9092
			if r.IntN(2) == 0 {
				b.Rack = kmsg.StringPtr("rack-" + strings.Repeat("r", r.IntN(5)))
			}
			resp.Brokers = append(resp.Brokers, b)
		}
	}
	if r.IntN(3) == 0 {
		resp.UnknownTags.Set(uint32(1+r.IntN(300)), randomBytes2(r, r.IntN(300)))
	}
	return resp
}

// fetchFrame encodes resp as a response frame with correlation id corr
// and, at random, an unknown tag in the response header.
func fetchFrame(r *rand.Rand, resp *kmsg.FetchResponse, corr int32) []byte {
	b := make([]byte, 8, 64)
	binary.BigEndian.PutUint32(b[4:], uint32(corr))
	if r != nil && r.IntN(4) == 0 {
		b = append(b, 1, 7, 3, 'h', 'd', 'r')
	} else {
		b = append(b, 0)
	}
	b = resp.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// checkStreamed checks out, the frame a client got for frame (a Fetch
// response at version v, as kmsg encodes it), against the buffered rewrite
// (rewriteBody): the same size; byte for byte the same up to the top-level
// tagged fields; decoded, the same response but for the padding field and,
// where the rewritten NodeEndpoints would not fit, their absence; and no
// upstream host anywhere. It returns what happened to the tagged fields.
func checkStreamed(t testing.TB, cn *conn, v int16, frame, out []byte, hosts []string) string {
	t.Helper()
	if len(out) != len(frame) {
		t.Fatalf("v%d: %d bytes passed on for a frame of %d", v, len(out), len(frame))
	}
	for _, h := range hosts {
		if len(h) >= 6 && bytes.Contains(out, []byte(h)) {
			t.Fatalf("v%d: upstream host %q passed on", v, h)
		}
	}
	body := frame[8:]
	hdr, _ := skipTags(body)
	off, err := fetchTagsAt(body[hdr:], v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out[:8+hdr+off], frame[:8+hdr+off]) {
		t.Fatalf("v%d: the response up to its top-level tags changed", v)
	}
	keep, tail, err := rewriteBody(keyFetch, v, body, nil, cn.mapNode)
	if err != nil {
		t.Fatalf("v%d: buffered rewrite: %v", v, err)
	}
	if tail == nil {
		if !bytes.Equal(out, frame) {
			t.Fatalf("v%d: a response without NodeEndpoints changed", v)
		}
		return "untouched"
	}
	ref := append(append([]byte(nil), body[:keep]...), tail...)
	delta := len(ref) - len(body)

	orig, err := decodeBody(keyFetch, v, body)
	if err != nil {
		t.Fatal(err)
	}
	gotR, err := decodeBody(keyFetch, v, out[8:])
	if err != nil {
		t.Fatalf("v%d: kmsg cannot read what the client got: %v", v, err)
	}
	wantR, err := decodeBody(keyFetch, v, ref)
	if err != nil {
		t.Fatal(err)
	}
	got, want := gotR.(*kmsg.FetchResponse), wantR.(*kmsg.FetchResponse)
	for _, b := range got.Brokers {
		if b.Host != "127.0.0.1" {
			t.Fatalf("v%d: node %d at %q passed on", v, b.NodeID, b.Host)
		}
	}
	// The padding: one unknown tag above every original one, all zeros.
	var maxTag uint32
	orig.(*kmsg.FetchResponse).UnknownTags.Each(func(k uint32, _ []byte) { maxTag = max(maxTag, k) })
	fields := 1 + orig.(*kmsg.FetchResponse).UnknownTags.Len()
	var kept kmsg.Tags
	pads := 0
	got.UnknownTags.Each(func(k uint32, d []byte) {
		var o []byte
		found := false
		orig.(*kmsg.FetchResponse).UnknownTags.Each(func(ok uint32, od []byte) {
			if ok == k {
				o, found = od, true
			}
		})
		if found {
			if !bytes.Equal(o, d) {
				t.Fatalf("v%d: unknown tag %d changed", v, k)
			}
			kept.Set(k, d)
			return
		}
		pads++
		if k <= maxTag || k == 0 || bytes.ContainsFunc(d, func(r rune) bool { return r != 0 }) {
			t.Fatalf("v%d: padding tag %d (original tags up to %d) holds %x", v, k, maxTag, d)
		}
	})
	got.UnknownTags = kept
	dropped := len(got.Brokers) == 0
	var what string
	switch {
	case delta > 0 || delta < 0 && -delta < minPad(fields, maxTag):
		if !dropped || pads != 1 {
			t.Fatalf("v%d: rewritten tags %+d bytes: want NodeEndpoints dropped and padded, got %d brokers, %d pads", v, delta, len(got.Brokers), pads)
		}
		want.Brokers = nil
		what = "dropped"
	case delta == 0:
		if dropped || pads != 0 || !bytes.Equal(out[8:], ref) {
			t.Fatalf("v%d: rewritten tags of the same size: want them as the buffered rewrite gives", v)
		}
		what = "same size"
	default:
		if dropped || pads != 1 {
			t.Fatalf("v%d: rewritten tags %+d bytes: want them padded, got %d brokers, %d pads", v, delta, len(got.Brokers), pads)
		}
		what = "padded"
	}
	if g, w := got.AppendTo(nil), want.AppendTo(nil); !bytes.Equal(g, w) {
		t.Fatalf("v%d (%s): streamed and buffered rewrites differ:\n got %+v\nwant %+v", v, what, got, want)
	}
	return what
}

func brokerHosts(resp *kmsg.FetchResponse) []string {
	var hs []string
	for _, b := range resp.Brokers {
		hs = append(hs, b.Host)
	}
	return hs
}

// TestStreamFetchEquivalence: for random Fetch responses of every version
// the proxy streams (v12+), as kmsg encodes them, with and without
// NodeEndpoints, with host names shorter and longer than the proxy's,
// the streamed response equals the buffered rewrite (checkStreamed), over
// TCP (records spliced) and pipes (copied).
func TestStreamFetchEquivalence(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 1))
	seen := map[string]int{}
	for _, tcp := range []bool{true, false} {
		h := newStreamHarness(t, tcp)
		n := 120
		if !tcp {
			n = 30
		}
		for v := int16(12); v <= rewriteMax(keyFetch); v++ {
			for i := range n {
				resp := randomFetch(r, v)
				frame := fetchFrame(r, resp, int32(i))
				out, err := h.pass(t, keyFetch, v, frame)
				if err != nil {
					t.Fatalf("v%d (tcp %v): %v", v, tcp, err)
				}
				seen[checkStreamed(t, h.cn, v, frame, out, brokerHosts(resp))]++
			}
		}
	}
	t.Logf("outcomes: %v", seen)
	for _, w := range []string{"untouched", "same size", "padded", "dropped"} {
		if seen[w] == 0 {
			t.Errorf("no response came out %s: %v", w, seen)
		}
	}
}

// TestSameSizeTags covers every gap the padding must fill exactly: host
// names of every length from 1 to 150 and around 16,384 (the rewritten
// section shorter by 0 to 16,000 bytes, or longer), with 0, 126 and 127
// other tags (the tag count's varint grows with the pad), including the
// gaps where the pad's own length varint grows (d + len(d) skips 129 and
// 16386) and those it cannot fill (1 byte, or a longer section:
// NodeEndpoints dropped).
func TestSameSizeTags(t *testing.T) {
	m := func(id int32, host string, port int32) (string, int32) { return "127.0.0.1", 9093 }
	section := func(host string, others int) []byte {
		resp := kmsg.FetchResponse{Version: 16, Brokers: []kmsg.FetchResponseBroker{{NodeID: 1, Host: host, Port: 9092}}}
		for i := range others {
			resp.UnknownTags.Set(uint32(1+i), []byte{byte(i)})
		}
		return resp.AppendTo(nil)[11:] // the tagged fields after an empty response
	}
	var hostLens []int
	for l := 1; l <= 150; l++ {
		hostLens = append(hostLens, l)
	}
	for l := 16370; l <= 16400; l++ {
		hostLens = append(hostLens, l)
	}
	outcomes := map[string]int{}
	for _, others := range []int{0, 126, 127} {
		local := len(section("127.0.0.1", others))
		for _, l := range hostLens {
			sec := section(strings.Repeat("h", l), others)
			gap := len(sec) - local
			out, dropped, err := sameSizeTags(keyFetch, 16, sec, m)
			if err != nil {
				t.Fatalf("host of %d, %d other tags: %v", l, others, err)
			}
			if len(out) != len(sec) {
				t.Fatalf("host of %d, %d other tags: %d bytes, want %d", l, others, len(out), len(sec))
			}
			if want := gap < 0 || gap > 0 && gap < minPad(others+1, uint32(others)); dropped != want {
				t.Errorf("host of %d, %d other tags, gap %d: dropped %v", l, others, gap, dropped)
			}
			resp := kmsg.FetchResponse{Version: 16}
			if err := resp.ReadFrom(append(append(make([]byte, 10, 10+len(out)), 1), out...)); err != nil {
				t.Fatalf("host of %d, %d other tags: kmsg: %v", l, others, err)
			}
			if !dropped && (len(resp.Brokers) != 1 || resp.Brokers[0].Host != "127.0.0.1" || resp.Brokers[0].Port != 9093) {
				t.Errorf("host of %d, %d other tags: brokers %+v", l, others, resp.Brokers)
			}
			if dropped && len(resp.Brokers) != 0 {
				t.Errorf("host of %d, %d other tags: dropped, yet brokers %+v", l, others, resp.Brokers)
			}
			pad := gap != 0
			if n := resp.UnknownTags.Len(); n != others+btoi(pad) {
				t.Errorf("host of %d, %d other tags, gap %d: %d unknown tags, want %d", l, others, gap, n, others+btoi(pad))
			}
			switch {
			case dropped:
				outcomes["dropped"]++
			case pad:
				outcomes["padded"]++
			default:
				outcomes["same"]++
			}
		}
	}
	t.Logf("%v", outcomes)
}

// minPad is the fewest bytes a padding field takes in a section of count
// fields whose highest tag is maxTag: the count's varint may grow, then
// the tag, a zero length, no data.
func minPad(count int, maxTag uint32) int {
	return uvarintLen(uint64(count+1)) - uvarintLen(uint64(count)) + uvarintLen(uint64(maxTag)+1) + 1
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// FuzzStreamFetch passes Fetch responses of every version the proxy
// streams, as kmsg encodes them and then mutated, through a conn: nothing
// panics or hangs; a response passed on has the size the broker sent, the
// bytes up to its top-level tagged fields unchanged, and no broker a
// client decodes from it is anywhere but the proxy.
func FuzzStreamFetch(f *testing.F) {
	r := rand.New(rand.NewPCG(16, 2))
	for v := int16(12); v <= rewriteMax(keyFetch); v++ {
		for range 3 {
			resp := randomFetch(r, v)
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					if p := &resp.Topics[i].Partitions[j]; len(p.RecordBatches) > 64 {
						p.RecordBatches = p.RecordBatches[:64]
					}
				}
			}
			f.Add(v, fetchFrame(r, resp, 1)[8:])
		}
	}
	f.Fuzz(func(t *testing.T, v int16, body []byte) {
		if v < 12 || v > rewriteMax(keyFetch) || len(body) > 1<<20 {
			return
		}
		h := newStreamHarness(t, false)
		frame := binary.BigEndian.AppendUint32(nil, uint32(4+len(body)))
		frame = append(binary.BigEndian.AppendUint32(frame, 1), body...)
		out, err := h.pass(t, keyFetch, v, frame)
		if err != nil {
			return
		}
		if len(out) != len(frame) {
			t.Fatalf("%d bytes passed on for a frame of %d", len(out), len(frame))
		}
		hdr, _ := skipTags(body)
		off, err := fetchTagsAt(body[hdr:], v)
		if err != nil {
			t.Fatalf("passed on a response the walk cannot read: %v", err)
		}
		if !bytes.Equal(out[:8+hdr+off], frame[:8+hdr+off]) {
			t.Fatal("the response up to its top-level tags changed")
		}
		resp, err := decodeBody(keyFetch, v, out[8:])
		if err != nil {
			return
		}
		for _, b := range resp.(*kmsg.FetchResponse).Brokers {
			// A node id below 0 names no node: no address.
			if b.NodeID >= 0 && b.Host != "127.0.0.1" || b.NodeID < 0 && (b.Host != "" || b.Port != -1) {
				t.Fatalf("node %d at %q:%d passed on", b.NodeID, b.Host, b.Port)
			}
		}
	})
}
