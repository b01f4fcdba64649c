package proxy

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// pair returns the two ends of a loopback TCP connection.
func pair(tb testing.TB) (net.Conn, net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

type noDial struct{}

func (noDial) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, io.ErrClosedPipe
}

// passThrough is a conn between two TCP pairs: the test is the client
// (client) and the broker (broker).
type passThrough struct {
	cn             *conn
	client, broker net.Conn
	req, resp      []byte // a ListOffsets request and response frame
	buf            []byte
}

func newPassThrough(tb testing.TB, body int) *passThrough {
	p, err := New("broker:9092", noDial{})
	if err != nil {
		tb.Fatal(err)
	}
	client, clientProxy := pair(tb)
	upProxy, broker := pair(tb)
	cn := newConn(p, clientProxy, -1)
	cn.up = upProxy
	cn.reqW.Writer, cn.respW.Writer = upProxy, clientProxy
	pt := &passThrough{cn: cn, client: client, broker: broker, buf: make([]byte, 8+body+64)}
	// ListOffsets v4 (key 2): passed through in both directions.
	pt.req = binary.BigEndian.AppendUint32(nil, uint32(8+body))
	pt.req = append(pt.req, 0, 2, 0, 4, 0, 0, 0, 7)
	pt.req = append(pt.req, make([]byte, body)...)
	pt.resp = binary.BigEndian.AppendUint32(nil, uint32(4+body))
	pt.resp = append(pt.resp, 0, 0, 0, 7)
	pt.resp = append(pt.resp, make([]byte, body)...)
	return pt
}

// newFetchThrough is a passThrough of Fetch v16 requests and responses
// with parts partitions of records bytes each and no NodeEndpoints:
// streamed, their records spliced.
func newFetchThrough(tb testing.TB, records, parts int) *passThrough {
	pt := newPassThrough(tb, 0)
	pt.req, pt.resp = fetchBench(records, parts)
	pt.buf = make([]byte, max(len(pt.req), len(pt.resp)))
	return pt
}

// roundTrip moves one request and its response through the conn.
func (pt *passThrough) roundTrip(tb testing.TB) {
	if _, err := pt.client.Write(pt.req); err != nil {
		tb.Fatal(err)
	}
	if err := pt.cn.request(false); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadFull(pt.broker, pt.buf[:len(pt.req)]); err != nil {
		tb.Fatal(err)
	}
	if _, err := pt.broker.Write(pt.resp); err != nil {
		tb.Fatal(err)
	}
	if err := pt.cn.response(false); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadFull(pt.client, pt.buf[:len(pt.resp)]); err != nil {
		tb.Fatal(err)
	}
}

// TestPassThroughAllocs: a frame passed through allocates nothing, in
// either direction.
func TestPassThroughAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector mean nothing (sync.Pool drops items at random)")
	}
	pt := newPassThrough(t, 4096)
	if n := testing.AllocsPerRun(200, func() { pt.roundTrip(t) }); n != 0 {
		t.Errorf("%.1f allocations per request and response passed through, want 0", n)
	}
}

// TestStreamedFetchAllocs: a Fetch response without NodeEndpoints,
// streamed (structure through the window, records spliced or not),
// allocates nothing either.
func TestStreamedFetchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector mean nothing (sync.Pool drops items at random)")
	}
	for _, records := range []int{100, 16 << 10} {
		pt := newFetchThrough(t, records, 3)
		if n := testing.AllocsPerRun(100, func() { pt.roundTrip(t) }); n != 0 {
			t.Errorf("records of %d bytes: %.1f allocations per Fetch request and response, want 0", records, n)
		}
	}
}

// BenchmarkPassThrough moves 16 KiB requests and responses through a
// conn (loopback TCP on both sides, so the bodies are spliced).
func BenchmarkPassThrough(b *testing.B) {
	pt := newPassThrough(b, 16<<10)
	b.SetBytes(int64(len(pt.req) + len(pt.resp)))
	b.ReportAllocs()
	for b.Loop() {
		pt.roundTrip(b)
	}
}
