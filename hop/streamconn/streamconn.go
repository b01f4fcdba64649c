// Package streamconn makes a net.Conn that behaves like TCP out of a byte
// stream carried by a tunnel: an SSH channel, a Kubernetes port-forward
// stream, a QUIC or HTTP/2 stream.
//
//	c := streamconn.New(stream, streamconn.Options{Local: local, Remote: remote})
//	c.SetDeadline(time.Now().Add(10 * time.Second))
//	_, err := c.Write(request) // a timeout error, not a hang, if the tunnel stalls
//
// Tunnel streams usually lack what Kafka clients rely on: sarama fails
// every request on a conn without deadlines, and a tunnel that fails mid
// stream often reads as a clean end of stream. A Conn adds:
//
//   - Read and write deadlines with net.Conn's semantics: a Read or Write
//     that passes its deadline fails with an error whose Timeout() is true,
//     and moving the deadline lets later calls go on.
//   - CloseWrite, a half close: the peer reads the end of the stream while
//     this side can still read.
//   - The tunnel's failure as the error of Read and Write, through
//     Options.ReadErr and Options.WriteErr, instead of io.EOF.
//
// Reads: a goroutine reads the stream ahead into a few buffers of
// Options.ChunkSize, and Read waits for one, the read deadline or Close.
//
// Writes: a goroutine writes a copy of each Write in frames of at most
// Options.ChunkSize, so a Write returns when its deadline passes even while
// the stream is blocked inside the tunnel (a flow-control window, a shared
// connection). For a stream whose Close ends a blocked Write (an SSH
// channel), Options.CloseUnblocksWrite saves the copy: Write calls the
// stream itself, and the deadline closes the stream under it. Either way
// the Conn is closed by a Write that passes its deadline, as such a Write
// leaves the stream in an unknown state; Kafka clients drop the conn
// anyway.
package streamconn

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultChunkSize is the read buffer and largest write frame when
// Options.ChunkSize is zero: one SSH packet's worth of data, and the size
// kubectl's port-forward copies in.
const DefaultChunkSize = 32 << 10

// Stream is a byte stream a tunnel carries.
type Stream interface {
	io.Reader
	io.Writer
	// CloseWrite ends the stream in this direction only.
	CloseWrite() error
	// Close ends the stream in both directions; it is called once, and a
	// Read blocked in the stream must return soon after it.
	Close() error
}

// Options configure a Conn. The zero value is usable.
type Options struct {
	// Local and Remote are what LocalAddr and RemoteAddr report.
	Local, Remote net.Addr
	// ChunkSize is the size of the read buffers and of the largest frame
	// a Write hands the stream; DefaultChunkSize when zero.
	ChunkSize int
	// ReadErr, when set, is called once with the error that ended the
	// stream's reads (io.EOF for a clean end) and returns what Read
	// reports after the data: io.EOF (or nil) for a clean end, or why the
	// tunnel failed. It is not called once the Conn is closed.
	ReadErr func(error) error
	// WriteErr, when set, is called with the error of a failed stream
	// Write (not for a Write the Conn ended itself by its deadline or
	// Close) and returns what Write reports; nil keeps the error.
	WriteErr func(error) error
	// CloseUnblocksWrite says that the stream's Close makes a blocked
	// Write return (true of an SSH channel, not of a stream that waits
	// for a connection it shares). Write then hands the stream the
	// caller's bytes, without a copy or a goroutine.
	CloseUnblocksWrite bool
}

// Conn is a net.Conn over a Stream. It is safe for concurrent use by one
// reader and one writer, as net.Conn is.
type Conn struct {
	s    Stream
	opts Options

	// read side: pump sends chunks; Read consumes them.
	chunks chan chunk
	free   chan []byte
	rmu    sync.Mutex
	cur    []byte // unread part of the current chunk
	curBuf []byte // the current chunk's buffer, recycled when drained
	rerr   error  // sticky error after the last chunk
	rdl    *deadline

	// write side: Write hands a copy to writer and waits.
	wmu      sync.Mutex
	wdl      *deadline
	wreq     chan []byte
	wres     chan writeResult
	wbuf     []byte      // reused while no write is outstanding
	broken   error       // sticky: a failed or timed-out Write
	writing  atomic.Bool // CloseUnblocksWrite: a Write is in the stream
	timedOut atomic.Bool // CloseUnblocksWrite: the deadline closed the conn

	closing   chan struct{}
	closeOnce sync.Once
	closeErr  error
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
	_ net.Conn                        = (*Conn)(nil)
	_ interface{ CloseWrite() error } = (*Conn)(nil)
)

// New returns a Conn over s and starts its reader and writer goroutines,
// which end when the Conn is closed (a writer blocked in s.Write ends when
// that Write returns).
func New(s Stream, o Options) *Conn {
	if o.ChunkSize <= 0 {
		o.ChunkSize = DefaultChunkSize
	}
	c := &Conn{
		s:       s,
		opts:    o,
		chunks:  make(chan chunk, 4),
		free:    make(chan []byte, 5),
		rdl:     newDeadline(nil),
		wreq:    make(chan []byte),
		wres:    make(chan writeResult, 1),
		closing: make(chan struct{}),
	}
	go c.pump()
	if o.CloseUnblocksWrite {
		c.wdl = newDeadline(c.writeExpired)
	} else {
		c.wdl = newDeadline(nil)
		go c.writer()
	}
	return c
}

func (c *Conn) pump() {
	for {
		var buf []byte
		select {
		case buf = <-c.free:
		default:
			buf = make([]byte, c.opts.ChunkSize)
		}
		n, err := c.s.Read(buf)
		if err != nil && c.opts.ReadErr != nil && !c.isClosed() {
			err = c.opts.ReadErr(err)
			if err == nil {
				err = io.EOF
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

// Read reads what the stream carried, waiting at most until the read
// deadline. After the data it returns io.EOF for a clean end, or an
// *net.OpError with the tunnel's failure.
func (c *Conn) Read(p []byte) (int, error) {
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

// writer writes what Write hands it, in frames of at most ChunkSize.
func (c *Conn) writer() {
	for {
		select {
		case b := <-c.wreq:
			n := 0
			var err error
			for n < len(b) && err == nil {
				end := min(n+c.opts.ChunkSize, len(b))
				var k int
				k, err = c.s.Write(b[n:end])
				n += k
			}
			c.wres <- writeResult{n, err}
		case <-c.closing:
			return
		}
	}
}

// Write writes p to the stream, waiting at most until the write deadline.
// A Write that passes its deadline closes the Conn; it and every later
// Write fail with a timeout error.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.broken != nil {
		return 0, c.opErr("write", c.broken)
	}
	if c.timedOut.Load() {
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
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
	if c.opts.CloseUnblocksWrite {
		return c.writeInPlace(p)
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
			if c.isClosed() {
				err = net.ErrClosed
			} else if c.opts.WriteErr != nil {
				if e := c.opts.WriteErr(err); e != nil {
					err = e
				}
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

// writeInPlace writes p to the stream from the caller's goroutine; the
// write deadline closes the conn under it (writeExpired).
func (c *Conn) writeInPlace(p []byte) (int, error) {
	c.writing.Store(true)
	if c.wdl.expired() { // passed after the check in Write, before writing was set
		c.writing.Store(false)
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	}
	n, err := c.s.Write(p)
	c.writing.Store(false)
	if err == nil {
		return n, nil
	}
	switch {
	case c.timedOut.Load():
		err = os.ErrDeadlineExceeded
	case c.isClosed():
		err = net.ErrClosed
	case c.opts.WriteErr != nil:
		if e := c.opts.WriteErr(err); e != nil {
			err = e
		}
	}
	c.broken = err
	return n, c.opErr("write", err)
}

// writeExpired runs when the write deadline passes: a Write in the stream
// is ended by closing the conn.
func (c *Conn) writeExpired() {
	if c.writing.Load() {
		c.timedOut.Store(true)
		c.Close()
	}
}

// CloseWrite half-closes the stream: the peer reads the end of the stream
// while this side can still read. It waits for no pending Write, as Write
// and CloseWrite are not called at once.
func (c *Conn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isClosed() {
		return c.opErr("close", net.ErrClosed)
	}
	if err := c.s.CloseWrite(); err != nil {
		return c.opErr("close", err)
	}
	return nil
}

// Close closes the stream in both directions and unblocks any Read or
// Write; a second Close returns an error wrapping net.ErrClosed.
func (c *Conn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.closing)
		c.closeErr = c.s.Close()
	})
	if !first {
		return c.opErr("close", net.ErrClosed)
	}
	if c.closeErr != nil {
		return c.opErr("close", c.closeErr)
	}
	return nil
}

func (c *Conn) isClosed() bool { return isClosedChan(c.closing) }

// LocalAddr returns Options.Local.
func (c *Conn) LocalAddr() net.Addr { return c.opts.Local }

// RemoteAddr returns Options.Remote.
func (c *Conn) RemoteAddr() net.Addr { return c.opts.Remote }

// SetDeadline sets the read and write deadlines; the zero time clears them.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline sets the read deadline; the zero time clears it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the write deadline; the zero time clears it.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	return nil
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.opts.Local, Addr: c.opts.Remote, Err: err}
}

// deadline is a settable deadline: wait returns a channel that is closed
// once it has passed (net.Pipe's technique), and onExpire, when set, runs
// then.
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
