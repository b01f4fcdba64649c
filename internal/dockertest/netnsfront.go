package dockertest

import (
	"io"
	"net"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// front is a TCP listener inside a network namespace that carries each
// connection to a unix socket: how a private engine is reached at a TCP
// address without dockerd's own TCP listener (dockerd 20.10 sleeps 15s
// at every start when it listens on TCP without TLS).
type front struct {
	ln    net.Listener
	sock  string
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  chan struct{}
}

// listenIn opens a TCP listener on addr inside the network namespace at
// nsPath (/run/netns/NAME). The socket is made by a thread that entered
// the namespace and is never returned to the scheduler.
func listenIn(nsPath, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		ns, err := os.Open(nsPath)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: &os.PathError{Op: "setns", Path: nsPath, Err: err}}
			return
		}
		ln, err := net.Listen("tcp", addr)
		ch <- result{ln, err}
	}()
	r := <-ch
	return r.ln, r.err
}

func startFront(nsPath, addr, sock string) (*front, error) {
	ln, err := listenIn(nsPath, addr)
	if err != nil {
		return nil, err
	}
	f := &front{ln: ln, sock: sock, conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	go f.serve()
	return f, nil
}

func (f *front) serve() {
	defer close(f.done)
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		go f.carry(c)
	}
}

func (f *front) carry(c net.Conn) {
	defer c.Close()
	u, err := net.Dial("unix", f.sock)
	if err != nil {
		return
	}
	defer u.Close()
	if !f.track(c, u) {
		return
	}
	defer f.untrack(c, u)
	done := make(chan struct{}, 2)
	go func() { io.Copy(u, c); u.(*net.UnixConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, u); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}

func (f *front) track(cs ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		return false
	}
	for _, c := range cs {
		f.conns[c] = struct{}{}
	}
	return true
}

func (f *front) untrack(cs ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		delete(f.conns, c)
	}
}

// close stops listening and ends every connection: nothing answers at
// the address, as when dockerd itself stops.
func (f *front) close() {
	f.ln.Close()
	<-f.done
	f.mu.Lock()
	conns := f.conns
	f.conns = nil
	f.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}
