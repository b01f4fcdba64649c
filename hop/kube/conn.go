package kube

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"k8s.io/streaming/pkg/httpstream"
)

// chunkSize bounds the data frames a conn writes and the buffers it reads
// into, as kubectl's io.Copy does: conns sharing a port-forward connection
// take turns in frames of this size.
const chunkSize = 32 << 10

// conn is a net.Conn over one port-forward request: a data stream and an
// error stream on the pod's shared connection.
//
// Reads: a pump goroutine reads the data stream ahead into a few buffers,
// and Read waits for one, the read deadline or Close. At the end of the
// data stream the error stream says whether the kubelet failed (it could
// not connect to the port, say), and the shared connection whether it was
// lost; either becomes the read error instead of io.EOF.
//
// Writes: a writer goroutine writes a copy of each Write, so a Write can
// return when its deadline passes even while the frame is blocked in the
// shared connection; the conn is then closed (the peer sees a reset), as a
// Kafka client would close it anyway.
type conn struct {
	att          *attempt // the shared connection the streams are on
	what         string   // "pod kafka-0 in namespace kafka", for messages
	data, errs   httpstream.Stream
	laddr, raddr net.Addr

	errDone chan struct{} // closed when errMsg is set
	errMsg  error         // what the error stream said, or why it failed

	// read side
	chunks chan chunk
	free   chan []byte
	rmu    sync.Mutex
	cur    []byte
	curBuf []byte
	rerr   error
	rdl    *deadline

	// write side
	wmu    sync.Mutex
	wdl    *deadline
	wreq   chan []byte
	wres   chan writeResult
	wbuf   []byte // reused while no write is outstanding
	broken error  // sticky write error

	closing   chan struct{}
	closeOnce sync.Once
}

type chunk struct {
	data []byte
	err  error
}

type writeResult struct {
	n   int
	err error
}

var (
	_ net.Conn                        = (*conn)(nil)
	_ interface{ CloseWrite() error } = (*conn)(nil)
)

func newConn(att *attempt, what string, data, errs httpstream.Stream, laddr, raddr net.Addr) *conn {
	c := &conn{
		att: att, what: what, data: data, errs: errs, laddr: laddr, raddr: raddr,
		errDone: make(chan struct{}),
		chunks:  make(chan chunk, 4),
		free:    make(chan []byte, 5),
		rdl:     newDeadline(),
		wdl:     newDeadline(),
		wreq:    make(chan []byte),
		wres:    make(chan writeResult, 1),
		closing: make(chan struct{}),
	}
	go c.readErrors()
	go c.pump()
	go c.writer()
	return c
}

// readErrors reads the error stream to its end: the kubelet writes there
// why forwarding failed, then closes it.
func (c *conn) readErrors() {
	msg, err := io.ReadAll(io.LimitReader(c.errs, 4<<10))
	switch {
	case len(msg) > 0:
		c.errMsg = fmt.Errorf("port-forward to %s failed: %s", c.what, msg)
	case err != nil:
		c.errMsg = err
	}
	close(c.errDone)
}

// endErr says why the data stream ended: the kubelet's error, the lost
// connection, or nil for a clean end.
func (c *conn) endErr() error {
	select {
	case <-c.errDone:
	case <-c.att.lost:
	case <-c.closing:
		return nil
	case <-time.After(2 * time.Second): // a clean end closes both streams together
	}
	select {
	case <-c.errDone:
		if c.errMsg != nil {
			return c.errMsg
		}
	default:
	}
	if lost := c.lostErr(); lost != nil {
		return lost
	}
	return nil
}

func (c *conn) pump() {
	for {
		var buf []byte
		select {
		case buf = <-c.free:
		default:
			buf = make([]byte, chunkSize)
		}
		n, err := c.data.Read(buf)
		if err != nil {
			if e := c.endErr(); e != nil {
				err = e
			} else if err != io.EOF {
				err = fmt.Errorf("port-forward to %s: %w", c.what, err)
			}
		}
		select {
		case c.chunks <- chunk{buf[:n], err}:
		case <-c.closing:
			return
		}
		if err != nil {
			return
		}
	}
}

func (c *conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.isClosed() {
		return 0, c.opErr("read", net.ErrClosed)
	}
	if c.rdl.expired() {
		return 0, c.opErr("read", os.ErrDeadlineExceeded)
	}
	for len(c.cur) == 0 {
		if c.rerr != nil {
			if c.rerr == io.EOF {
				return 0, io.EOF
			}
			return 0, c.opErr("read", c.rerr)
		}
		if c.curBuf != nil {
			select {
			case c.free <- c.curBuf[:cap(c.curBuf)]:
			default:
			}
			c.curBuf = nil
		}
		if len(p) == 0 {
			return 0, nil
		}
		select {
		case ck := <-c.chunks:
			c.cur, c.curBuf, c.rerr = ck.data, ck.data, ck.err
		case <-c.rdl.wait():
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		case <-c.closing:
			return 0, c.opErr("read", net.ErrClosed)
		}
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

// writer writes what Write hands it, in frames of at most chunkSize.
func (c *conn) writer() {
	for {
		select {
		case b := <-c.wreq:
			n := 0
			var err error
			for n < len(b) && err == nil {
				end := min(n+chunkSize, len(b))
				var k int
				k, err = c.data.Write(b[n:end])
				n += k
			}
			c.wres <- writeResult{n, err}
		case <-c.closing:
			return
		}
	}
}

func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.broken != nil {
		return 0, c.opErr("write", c.broken)
	}
	if c.isClosed() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	if c.wdl.expired() {
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	}
	if len(p) == 0 {
		return 0, nil
	}
	b := append(c.wbuf[:0], p...)
	select {
	case c.wreq <- b:
	case <-c.closing:
		return 0, c.opErr("write", net.ErrClosed)
	}
	select {
	case r := <-c.wres:
		c.wbuf = b
		if r.err != nil {
			err := r.err
			if lost := c.lostErr(); lost != nil {
				err = lost
			} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
				err = fmt.Errorf("broken pipe: the port-forward stream to %s was closed", c.what)
			}
			c.broken = err
			return r.n, c.opErr("write", err)
		}
		return r.n, nil
	case <-c.wdl.wait():
		// b stays with the writer goroutine; the conn is done.
		c.wbuf = nil
		c.broken = os.ErrDeadlineExceeded
		c.Close()
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	case <-c.closing:
		c.wbuf = nil
		return 0, c.opErr("write", net.ErrClosed)
	}
}

// CloseWrite half-closes the data stream: the pod reads the end of the
// stream while this side can still read.
func (c *conn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isClosed() {
		return c.opErr("close", net.ErrClosed)
	}
	if err := c.data.Close(); err != nil {
		return c.opErr("close", err)
	}
	return nil
}

// Close resets both streams, so the kubelet closes its connection to the
// pod, and forgets them on the shared connection.
func (c *conn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.closing)
		c.data.Reset()
		c.errs.Reset()
		c.att.conn.RemoveStreams(c.data, c.errs)
	})
	if !first {
		return c.opErr("close", net.ErrClosed)
	}
	return nil
}

// lostErr is the error of the shared connection's end, or nil while it
// is open.
func (c *conn) lostErr() error {
	select {
	case <-c.att.lost:
		return c.att.lostErr
	default:
		return nil
	}
}

func (c *conn) isClosed() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

func (c *conn) LocalAddr() net.Addr  { return c.laddr }
func (c *conn) RemoteAddr() net.Addr { return c.raddr }

func (c *conn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	return nil
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	return nil
}

func (c *conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: err}
}

// deadline is a settable deadline: wait returns a channel that is closed
// once it has passed (net.Pipe's technique).
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

func newDeadline() *deadline { return &deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait until it has closed cancel
	}
	d.timer = nil
	closed := isClosedChan(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func (d *deadline) expired() bool { return isClosedChan(d.wait()) }

func isClosedChan(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// addr is a net.Addr for a pod port reached by port-forward.
type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }
