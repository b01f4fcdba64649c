// Package testnet runs small TCP servers on loopback for tests: each
// accepted connection is handed to a handler in its own goroutine, and the
// listener and every connection still open are closed when the test ends.
package testnet

import (
	"io"
	"net"
	"sync"
	"testing"
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
