package ssh

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// readChunk is the size of the buffers a channelConn reads into: one SSH
// packet's worth of data (OpenSSH's and x/crypto's maximum packet).
const readChunk = 32 << 10

// channelConn is a net.Conn over an SSH direct-tcpip channel with what
// x/crypto/ssh's own channel conn lacks: deadlines (sarama fails every
// request on "deadline not supported") and CloseWrite, and an error rather
// than a clean end of stream when the SSH connection under it fails.
//
// Reads keep net.Conn's deadline semantics: a pump goroutine reads the
// channel ahead into a few buffers, and Read waits for the next one, the
// read deadline or Close. A Write cannot be interrupted inside x/crypto/ssh,
// so when the write deadline passes during a blocked Write the conn is
// closed, which unblocks it; the Write returns a timeout error, as it would
// on TCP, and the conn is unusable after it (Kafka clients drop a conn on any
// write error anyway).
type channelConn struct {
	ch           gossh.Channel
	lost         func() error // why the connection under ch ended, or nil
	laddr, raddr net.Addr

	// read side: the pump sends chunks; Read consumes them.
	chunks chan chunk
	free   chan []byte
	rmu    sync.Mutex
	cur    []byte // unread part of the current chunk
	curBuf []byte // the current chunk's buffer, recycled when drained
	rerr   error  // sticky error after the last chunk
	rdl    *deadline

	// write side
	wmu       sync.Mutex
	wdl       *deadline
	writing   atomic.Bool
	wTimedOut atomic.Bool

	closing   chan struct{}
	closeOnce sync.Once
}

type chunk struct {
	data []byte
	err  error
}

var (
	_ net.Conn                        = (*channelConn)(nil)
	_ interface{ CloseWrite() error } = (*channelConn)(nil)
)

// NewChannelConn returns a net.Conn over ch, an SSH channel that carries a
// byte stream (direct-tcpip, or a session's stdin/stdout), with what
// x/crypto/ssh's channels lack: read and write deadlines (a Read or Write
// that passes its deadline fails with an error whose Timeout() is true, and
// a Write interrupted so closes the conn) and CloseWrite (SSH EOF). local
// and remote are what LocalAddr and RemoteAddr report. lost, when not nil,
// is asked at the end of the stream: a non-nil error it returns (the SSH
// connection under the channel failed) is reported instead of io.EOF.
func NewChannelConn(ch gossh.Channel, local, remote net.Addr, lost func() error) net.Conn {
	return newChannelConn(ch, local, remote, lost)
}

func newChannelConn(ch gossh.Channel, local, remote net.Addr, lost func() error) *channelConn {
	if lost == nil {
		lost = func() error { return nil }
	}
	c := &channelConn{
		ch:      ch,
		lost:    lost,
		laddr:   local,
		raddr:   remote,
		chunks:  make(chan chunk, 4),
		free:    make(chan []byte, 5),
		rdl:     newDeadline(nil),
		closing: make(chan struct{}),
	}
	c.wdl = newDeadline(c.writeExpired)
	go io.Copy(io.Discard, ch.Stderr()) // direct-tcpip has none; never let it stall the window
	go c.pump()
	return c
}

func (c *channelConn) pump() {
	for {
		var buf []byte
		select {
		case buf = <-c.free:
		default:
			buf = make([]byte, readChunk)
		}
		n, err := c.ch.Read(buf)
		if err == io.EOF {
			if lost := c.lost(); lost != nil {
				err = lost
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

func (c *channelConn) Read(p []byte) (int, error) {
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

func (c *channelConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isClosed() {
		if c.wTimedOut.Load() {
			return 0, c.opErr("write", os.ErrDeadlineExceeded)
		}
		return 0, c.opErr("write", net.ErrClosed)
	}
	if c.wdl.expired() {
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	}
	c.writing.Store(true)
	n, err := c.ch.Write(p)
	c.writing.Store(false)
	if err != nil {
		switch {
		case c.wTimedOut.Load():
			err = os.ErrDeadlineExceeded
		case c.isClosed():
			err = net.ErrClosed
		default:
			if lost := c.lost(); lost != nil {
				err = lost
			} else if err == io.EOF {
				err = errors.New("broken pipe: the target closed the connection")
			}
		}
		return n, c.opErr("write", err)
	}
	return n, nil
}

// writeExpired runs when the write deadline passes.
func (c *channelConn) writeExpired() {
	if c.writing.Load() {
		c.wTimedOut.Store(true)
		c.Close()
	}
}

// CloseWrite sends EOF: the target reads the end of the stream while this
// side can still read.
func (c *channelConn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isClosed() {
		return c.opErr("close", net.ErrClosed)
	}
	return c.ch.CloseWrite()
}

func (c *channelConn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.closing)
		c.ch.Close()
	})
	if !first {
		return c.opErr("close", net.ErrClosed)
	}
	return nil
}

func (c *channelConn) isClosed() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

func (c *channelConn) LocalAddr() net.Addr  { return c.laddr }
func (c *channelConn) RemoteAddr() net.Addr { return c.raddr }

func (c *channelConn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

func (c *channelConn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	return nil
}

func (c *channelConn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	return nil
}

func (c *channelConn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: err}
}

// deadline is a settable deadline: wait returns a channel closed once it
// has passed (net.Pipe's technique), and onExpire, when set, runs then.
type deadline struct {
	mu       sync.Mutex
	timer    *time.Timer
	cancel   chan struct{}
	onExpire func()
}

func newDeadline(onExpire func()) *deadline {
	return &deadline{cancel: make(chan struct{}), onExpire: onExpire}
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait until it has closed cancel
	}
	d.timer = nil
	closed := isClosedChan(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		d.mu.Unlock()
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() {
			close(cancel)
			if d.onExpire != nil {
				d.onExpire()
			}
		})
		d.mu.Unlock()
		return
	}
	if !closed {
		close(d.cancel)
	}
	d.mu.Unlock()
	if !closed && d.onExpire != nil {
		d.onExpire()
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
