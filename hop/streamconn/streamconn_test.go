package streamconn_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/hop/streamconn"
	"github.com/kafkadial/kafkadial/internal/testnet"
)

// tcpPair returns the two ends of a real loopback TCP connection: the
// stream a Conn is built on, and the peer behind the tunnel.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

func newConn(t *testing.T, s streamconn.Stream, o streamconn.Options) *streamconn.Conn {
	c := streamconn.New(s, o)
	t.Cleanup(func() { c.Close() })
	return c
}

// bothModes runs test with a writer goroutine and with writes in place
// (a TCP conn's Close ends a blocked Write, as an SSH channel's does).
func bothModes(t *testing.T, test func(*testing.T, streamconn.Options)) {
	t.Run("copy", func(t *testing.T) { test(t, streamconn.Options{}) })
	t.Run("in-place", func(t *testing.T) { test(t, streamconn.Options{CloseUnblocksWrite: true}) })
}

func with(mode, o streamconn.Options) streamconn.Options {
	o.CloseUnblocksWrite = mode.CloseUnblocksWrite
	return o
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
}

// Data crosses both ways in frames larger and smaller than a chunk, and
// CloseWrite lets the peer see the end while the reply still arrives.
func TestEchoAndCloseWrite(t *testing.T) { bothModes(t, testEchoAndCloseWrite) }

func testEchoAndCloseWrite(t *testing.T, mode streamconn.Options) {
	s, peer := tcpPair(t)
	go func() { // echo until the end of the stream, then end ours
		io.Copy(peer, peer)
		peer.CloseWrite()
	}()
	c := newConn(t, s, with(mode, streamconn.Options{ChunkSize: 1000}))
	want := bytes.Repeat([]byte("kafkadial"), 100_000) // 900 kB, 900 frames
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(want)
		if err == nil {
			err = c.CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("echoed %d bytes, want %d", len(got), len(want))
	}
}

func TestReadDeadline(t *testing.T) { bothModes(t, testReadDeadline) }

func testReadDeadline(t *testing.T, mode streamconn.Options) {
	s, peer := tcpPair(t)
	c := newConn(t, s, mode)
	start := time.Now()
	c.SetReadDeadline(start.Add(50 * time.Millisecond))
	if _, err := c.Read(make([]byte, 10)); !isTimeout(err) {
		t.Fatalf("read with no data: %v, want a timeout", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > 5*time.Second {
		t.Errorf("timed out after %s, want about 50ms", d)
	}
	// Still past the deadline: fails at once.
	if _, err := c.Read(make([]byte, 10)); !isTimeout(err) {
		t.Fatalf("second read: %v", err)
	}
	// A cleared deadline lets the read go on and get the data.
	c.SetReadDeadline(time.Time{})
	peer.Write([]byte("late"))
	buf := make([]byte, 10)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "late" {
		t.Fatalf("read after clearing the deadline: %q, %v", buf[:n], err)
	}
	// A deadline in the past fails a read that has no data waiting.
	c.SetDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(buf); !isTimeout(err) {
		t.Fatalf("read past the deadline: %v", err)
	}
}

// A peer that never reads fills the socket buffers; the Write returns at
// its deadline with a timeout, and the Conn is closed, the peer sees it end.
func TestWriteDeadline(t *testing.T) { bothModes(t, testWriteDeadline) }

func testWriteDeadline(t *testing.T, mode streamconn.Options) {
	s, peer := tcpPair(t)
	c := newConn(t, s, mode)
	c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	start := time.Now()
	// Small socket buffers: 8 MiB cannot fit in them, so the Write blocks.
	peer.SetReadBuffer(64 << 10)
	s.SetWriteBuffer(64 << 10)
	big := make([]byte, 8<<20)
	n, err := c.Write(big)
	if !isTimeout(err) {
		t.Fatalf("write to a peer that does not read: %d, %v; want a timeout", n, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("write returned after %s, want about 200ms", d)
	}
	if _, err := c.Write([]byte("x")); !isTimeout(err) {
		t.Errorf("write after the timeout: %v, want the same timeout", err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after the write timed out: %v, want net.ErrClosed", err)
	}
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, peer); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Errorf("peer after the close: %v", err)
	}
}

// ReadErr turns the end of the stream into the tunnel's failure, after
// the data; WriteErr does the same for a failed stream Write.
func TestTunnelErrors(t *testing.T) { bothModes(t, testTunnelErrors) }

func testTunnelErrors(t *testing.T, mode streamconn.Options) {
	lost := errors.New("tunnel lost")
	s, peer := tcpPair(t)
	var got []error
	var mu sync.Mutex
	c := newConn(t, s, with(mode, streamconn.Options{
		ReadErr: func(err error) error {
			mu.Lock()
			got = append(got, err)
			mu.Unlock()
			return lost
		},
	}))
	peer.Write([]byte("last"))
	peer.Close()
	data, err := io.ReadAll(c)
	if string(data) != "last" || !errors.Is(err, lost) {
		t.Fatalf("read: %q, %v; want the data, then %v", data, err, lost)
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "read" {
		t.Errorf("read error %#v is not a *net.OpError for read", err)
	}
	mu.Lock()
	if len(got) != 1 || got[0] != io.EOF {
		t.Errorf("ReadErr called with %v, want once with io.EOF", got)
	}
	mu.Unlock()

	// A clean end stays io.EOF when ReadErr says nil.
	s2, peer2 := tcpPair(t)
	c2 := newConn(t, s2, with(mode, streamconn.Options{ReadErr: func(error) error { return nil }}))
	peer2.CloseWrite()
	if _, err := c2.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("clean end: %v, want io.EOF", err)
	}

	// The stream closed under the Conn: its Write fails; WriteErr names why.
	s3, _ := tcpPair(t)
	c3 := newConn(t, s3, with(mode, streamconn.Options{WriteErr: func(err error) error { return lost }}))
	s3.Close()
	if _, err := c3.Write([]byte("x")); !errors.Is(err, lost) {
		t.Errorf("write on a dead stream: %v, want %v", err, lost)
	}
	if _, err := c3.Write([]byte("x")); !errors.Is(err, lost) {
		t.Errorf("second write: %v, want the same error", err)
	}
}

// Close unblocks a pending Read, and every call after it fails with
// net.ErrClosed.
func TestClose(t *testing.T) { bothModes(t, testClose) }

func testClose(t *testing.T, mode streamconn.Options) {
	s, peer := tcpPair(t)
	c := newConn(t, s, mode)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	testnet.WaitBlocked(t, "streamconn.(*Conn).Read")
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("pending read: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	for name, err := range map[string]error{
		"close":      c.Close(),
		"closewrite": c.CloseWrite(),
		"write":      func() error { _, err := c.Write([]byte("x")); return err }(),
	} {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s after Close: %v, want net.ErrClosed", name, err)
		}
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := peer.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("peer after Close: %d, %v; want io.EOF", n, err)
	}
}

func TestAddrs(t *testing.T) {
	s, _ := tcpPair(t)
	c := newConn(t, s, streamconn.Options{Local: s.LocalAddr(), Remote: s.RemoteAddr()})
	if c.LocalAddr() != s.LocalAddr() || c.RemoteAddr() != s.RemoteAddr() {
		t.Errorf("addrs %v %v", c.LocalAddr(), c.RemoteAddr())
	}
	if _, err := c.Write([]byte{}); err != nil {
		t.Errorf("empty write: %v", err)
	}
	if n, err := c.Read(nil); n != 0 || err != nil {
		t.Errorf("empty read: %d, %v", n, err)
	}
}

// A deadline moved into the past ends a Write already blocked in the
// stream.
func TestWriteDeadlineMovedIntoThePast(t *testing.T) {
	bothModes(t, func(t *testing.T, mode streamconn.Options) {
		s, peer := tcpPair(t)
		peer.SetReadBuffer(64 << 10)
		s.SetWriteBuffer(64 << 10)
		c := newConn(t, s, mode)
		errc := make(chan error, 1)
		go func() {
			_, err := c.Write(make([]byte, 8<<20))
			errc <- err
		}()
		testnet.WaitBlocked(t, "streamconn.(*Conn).Write")
		select {
		case err := <-errc:
			t.Fatalf("write to a peer that does not read returned: %v", err)
		default:
		}
		c.SetWriteDeadline(time.Now().Add(-time.Second))
		select {
		case err := <-errc:
			if !isTimeout(err) {
				t.Fatalf("blocked write: %v, want a timeout", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("moving the deadline did not end the blocked Write")
		}
	})
}
