// Package testnet runs small TCP servers on loopback for tests: each
// accepted connection is handed to a handler in its own goroutine, and the
// listener and every connection still open are closed when the test ends.
package testnet

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Serve accepts on ln until the test ends, handing each connection to
// handle in its own goroutine. It returns ln's address.
func Serve(t testing.TB, ln net.Listener, handle func(net.Conn)) string {
	t.Helper()
	var (
		mu     sync.Mutex
		conns  = map[net.Conn]struct{}{}
		closed bool
		wg     sync.WaitGroup
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = struct{}{}
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// Listen serves connections to a new listener on 127.0.0.1:0 with handle.
func Listen(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return Serve(t, ln, handle)
}

// Echo writes back what it reads until the peer half-closes, then closes.
func Echo(c net.Conn) {
	defer c.Close()
	io.Copy(c, c)
}

// Close closes the connection at once.
func Close(c net.Conn) { c.Close() }

// Discard reads and drops everything until the peer closes.
func Discard(c net.Conn) {
	defer c.Close()
	io.Copy(io.Discard, c)
}

// Silent holds the connection open and never speaks, so a handshake on it
// hangs until the client gives up; the test's end closes it.
func Silent(c net.Conn) {}

// ClosedAddr returns a loopback address that nothing listens on: a dial to
// it is refused.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// EchoRoundTrip writes msg to c, a connection to an echo server, and
// fails the test unless the same bytes come back within 10 seconds.
func EchoRoundTrip(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatalf("SetDeadline: %v", err)
	}
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("echo returned %q, want %q", got, msg)
	}
	c.SetDeadline(time.Time{})
}

// RecordingDialer is a net.Dialer that records the addresses it dials.
type RecordingDialer struct {
	mu    sync.Mutex
	addrs []string
	d     net.Dialer
}

// DialContext records addr and dials it.
func (r *RecordingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	r.mu.Lock()
	r.addrs = append(r.addrs, addr)
	r.mu.Unlock()
	return r.d.DialContext(ctx, network, addr)
}

// Dials returns the addresses dialled so far, in order.
func (r *RecordingDialer) Dials() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.addrs...)
}
