package proxy

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// conn is one client connection and the upstream connection it gets.
//
// Two goroutines move its frames. requests reads each request's size and
// header (api key, version, correlation id; for Produce also acks),
// queues {correlation id, key, version} unless no response will come
// (acks=0), forwards the header bytes and copies the rest of the body
// without looking at it. responses reads each response's size and
// correlation id, pops the queue's front (they must match), and either
// copies the body through or, for the responses that carry broker
// addresses, reads it whole, rewrites it and writes the result.
type conn struct {
	p      *Proxy
	node   int32  // the listener's node, -1 for bootstrap
	host   string // the host rewritten addresses give
	client net.Conn

	mu     sync.Mutex
	up     net.Conn // nil until dialled
	closed bool
	err    error // the first error, the one logged

	q   queue
	wmu sync.Mutex // held while writing a response to the client

	// client → upstream; only the requests goroutine touches these.
	req   []byte // size and the header bytes read so far
	reqLR io.LimitedReader
	reqW  writerOnly

	// upstream → client; only the responses goroutine touches these.
	resp   [8]byte
	respLR io.LimitedReader
	respW  writerOnly
	st     stream // a streamed response
}

// writerOnly hides a ReaderFrom, so io.CopyBuffer uses the buffer it is
// given.
type writerOnly struct{ io.Writer }

func newConn(p *Proxy, c net.Conn, node int32) *conn {
	cn := &conn{p: p, node: node, client: c, host: p.cfg.listenHost, req: make([]byte, 4, 64)}
	if ip := net.ParseIP(cn.host); cn.host == "" || ip != nil && ip.IsUnspecified() {
		// Listening on every address: name the one this client reached.
		if h, _, err := net.SplitHostPort(c.LocalAddr().String()); err == nil {
			cn.host = h
		}
	}
	return cn
}

// badInput is a peer's protocol error: logged at Warn.
type badInput struct{ msg string }

func (e *badInput) Error() string { return e.msg }

func bad(format string, args ...any) error { return &badInput{fmt.Sprintf(format, args...)} }

// fail records err as the reason the connection ends (the first one
// wins) and closes both ends.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.close()
}

func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.client.Close()
	if c.up != nil {
		c.up.Close()
	}
}

func (c *conn) attrs(extra ...slog.Attr) []slog.Attr {
	return append([]slog.Attr{slog.String("client", c.client.RemoteAddr().String()), slog.Int("node", int(c.node))}, extra...)
}

// serve runs the connection until either side ends it.
func (c *conn) serve() {
	defer c.close()
	log, ctx := c.p.log, c.p.ctx
	if _, err := io.ReadFull(c.client, c.req[:4]); err != nil {
		var re tls.RecordHeaderError
		switch {
		case errors.As(err, &re):
			log.LogAttrs(ctx, slog.LevelWarn, "proxy: closed a connection: client did not speak TLS to a TLS listener", c.attrs(slog.String("err", err.Error()))...)
		case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
			log.LogAttrs(ctx, slog.LevelDebug, "proxy: client closed before a request", c.attrs()...)
		default:
			log.LogAttrs(ctx, slog.LevelWarn, "proxy: closed a connection", c.attrs(slog.String("err", err.Error()))...)
		}
		return
	}
	if hint := sniffClient(c.req[:4]); hint != "" {
		log.LogAttrs(ctx, slog.LevelWarn, "proxy: closed a connection: "+hint, c.attrs(slog.String("first_bytes", fmt.Sprintf("% x", c.req[:4])))...)
		return
	}
	addr := c.p.upstreamFor(c.node)
	if addr == "" {
		log.LogAttrs(ctx, slog.LevelWarn, "proxy: closed a connection: no address known for the broker", c.attrs()...)
		return
	}
	dctx := ctx
	if c.p.cfg.timeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, c.p.cfg.timeout)
		defer cancel()
	}
	up, err := c.p.d.DialContext(dctx, "tcp", addr)
	if err != nil {
		if ctx.Err() == nil {
			log.LogAttrs(ctx, slog.LevelWarn, "proxy: cannot reach broker; closed the client's connection",
				c.attrs(slog.String("broker", addr), slog.String("err", err.Error()))...)
		}
		return
	}
	c.mu.Lock()
	c.up = up
	closed := c.closed
	c.mu.Unlock()
	if closed {
		up.Close()
		return
	}
	if log.Enabled(ctx, slog.LevelDebug) {
		log.LogAttrs(ctx, slog.LevelDebug, "proxy: connection", c.attrs(slog.String("broker", addr),
			slog.String("upstream_local", up.LocalAddr().String()))...)
	}
	c.reqW.Writer, c.respW.Writer = up, c.client

	done := make(chan struct{})
	go func() {
		defer close(done)
		c.fail(c.requests())
	}()
	c.fail(c.responses())
	<-done

	c.mu.Lock()
	err = c.err
	c.mu.Unlock()
	var bi *badInput
	if errors.As(err, &bi) {
		log.LogAttrs(ctx, slog.LevelWarn, "proxy: closed a connection: "+bi.msg, c.attrs(slog.String("broker", addr))...)
	} else if log.Enabled(ctx, slog.LevelDebug) {
		log.LogAttrs(ctx, slog.LevelDebug, "proxy: connection ended", c.attrs(slog.String("broker", addr), slog.Any("err", err))...)
	}
}

// requests forwards requests until an error; the first frame's size is
// already in c.req.
func (c *conn) requests() error {
	for first := true; ; first = false {
		if err := c.request(first); err != nil {
			return err
		}
	}
}

// maxRequestHeader bounds the request bytes read to find Produce's acks.
const maxRequestHeader = 128 << 10

// request forwards one request; haveSize says c.req[:4] holds its size.
func (c *conn) request(haveSize bool) error {
	c.req = c.req[:4]
	if !haveSize {
		if _, err := io.ReadFull(c.client, c.req); err != nil {
			return err
		}
	}
	size := int32(binary.BigEndian.Uint32(c.req))
	if size < 8 || int64(size) > int64(c.p.cfg.maxFrame) {
		return bad("request frame of %d bytes (first bytes % x), bound %d (WithMaxFrame, --max-frame)", size, c.req[:4], c.p.cfg.maxFrame)
	}
	// A small frame is read whole and written in one go; of a larger
	// one only the header (to Produce's acks), the rest copied after.
	var frame []byte
	if size <= smallFrame {
		bp := c.p.getWindow()
		defer c.p.putWindow(bp)
		frame = (*bp)[:4+size]
		copy(frame, c.req[:4])
		if _, err := io.ReadFull(c.client, frame[4:]); err != nil {
			return err
		}
	} else {
		if err := c.readRequest(8, size); err != nil {
			return err
		}
		frame = c.req
	}
	key := int16(binary.BigEndian.Uint16(frame[4:]))
	version := int16(binary.BigEndian.Uint16(frame[6:]))
	corr := int32(binary.BigEndian.Uint32(frame[8:]))
	respond := true
	if key == 0 && version >= 0 {
		var acks int16
		var err error
		if size <= smallFrame {
			if acks, err = parseProduceAcks(frame[12:], version); err != nil {
				err = bad("Produce v%d request: %v", version, err)
			}
		} else {
			acks, err = c.produceAcks(version, size)
			frame = c.req
		}
		if err != nil {
			return err
		}
		respond = acks != 0
	}
	rest := int64(size) - int64(len(frame)-4)
	if mx := rewriteMax(key); mx >= 0 && (version > mx || version < 0) {
		if key == 18 && version > mx {
			return c.unsupportedApiVersions(corr, rest)
		}
		return bad("%s v%d request: the proxy can rewrite its response only up to v%d (did the client skip ApiVersions?)", kmsg.NameForKey(key), version, mx)
	}
	if respond {
		c.q.push(inflight{corr: corr, key: key, version: version})
	}
	if _, err := c.reqW.Write(frame); err != nil {
		return err
	}
	if cap(c.req) > 4<<10 {
		c.req = make([]byte, 4, 64) // keep no large header buffer on an idle connection
	}
	return copyN(c.up, c.client, rest, &c.reqLR, &c.reqW, c.p)
}

// readRequest reads from the client until c.req holds at least n bytes
// of the frame after its size (of size bytes), reading at most 512 more.
func (c *conn) readRequest(n int, size int32) error {
	if n > int(size) {
		return bad("request header longer than its frame of %d bytes", size)
	}
	for len(c.req)-4 < n {
		have := len(c.req)
		want := min(int(size)-(have-4), n-(have-4)+512)
		if cap(c.req)-have < want {
			c.req = append(c.req[:cap(c.req)], make([]byte, want)...)[:have]
		}
		m, err := io.ReadAtLeast(c.client, c.req[have:have+want], n-(have-4))
		c.req = c.req[:have+m]
		if err != nil {
			return err
		}
	}
	return nil
}

// produceAcks reads a Produce request's header and body up to acks.
func (c *conn) produceAcks(version int16, size int32) (int16, error) {
	for {
		acks, err := parseProduceAcks(c.req[12:], version)
		if err == nil {
			return acks, nil
		}
		if !errors.Is(err, errShort) || len(c.req)-4 >= int(size) {
			return 0, bad("Produce v%d request: %v", version, err)
		}
		if len(c.req) > maxRequestHeader {
			return 0, bad("Produce v%d request: header over %d bytes", version, maxRequestHeader)
		}
		if err := c.readRequest(len(c.req)-4+1, size); err != nil {
			return 0, err
		}
	}
}

// parseProduceAcks finds acks in the bytes of a Produce request after its
// correlation id: client id, the header's tags (v9+), transactional id
// (v3+), acks.
func parseProduceAcks(b []byte, version int16) (int16, error) {
	w := walker{b: b}
	if l := w.int16(); l > 0 {
		w.skip(int(l))
	}
	if version >= 9 {
		w.tags()
	}
	if version >= 9 {
		w.compactBytes()
	} else if version >= 3 {
		if l := w.int16(); l > 0 {
			w.skip(int(l))
		}
	}
	acks := w.int16()
	return acks, w.err
}

// unsupportedApiVersions answers an ApiVersions request newer than the
// proxy reads as a broker does: UNSUPPORTED_VERSION, encoded as v0, with
// the ApiVersions range the proxy reads, so the client retries lower.
func (c *conn) unsupportedApiVersions(corr int32, rest int64) error {
	c.reqLR.R, c.reqLR.N = c.client, rest
	if _, err := io.Copy(io.Discard, &c.reqLR); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.q.len() != 0 {
		return bad("ApiVersions request newer than the proxy reads, behind other requests")
	}
	r := kmsg.ApiVersionsResponse{Version: 0, ErrorCode: 35,
		ApiKeys: []kmsg.ApiVersionsResponseApiKey{{ApiKey: 18, MaxVersion: rewriteMax(18)}}}
	b := r.AppendTo(binary.BigEndian.AppendUint32(make([]byte, 4, 32), uint32(corr)))
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	_, err := c.client.Write(b)
	return err
}

// responses forwards responses until an error.
func (c *conn) responses() error {
	for first := true; ; first = false {
		if err := c.response(first); err != nil {
			return err
		}
	}
}

// response forwards one response.
func (c *conn) response(first bool) error {
	// Size and correlation id in one read: a frame is at least 8 bytes.
	if _, err := io.ReadFull(c.up, c.resp[:]); err != nil {
		if first && looksTLS(c.resp[:]) {
			return bad(hintUpstreamTLS)
		}
		return err
	}
	if first && looksTLS(c.resp[:4]) {
		return bad(hintUpstreamTLS)
	}
	size := int32(binary.BigEndian.Uint32(c.resp[:4]))
	if size < 4 || int64(size) > int64(c.p.cfg.maxFrame) {
		return bad("response frame of %d bytes (first bytes % x) from the broker, bound %d (WithMaxFrame, --max-frame)", size, c.resp[:4], c.p.cfg.maxFrame)
	}
	corr := int32(binary.BigEndian.Uint32(c.resp[4:]))
	c.wmu.Lock()
	defer c.wmu.Unlock()
	e, ok := c.q.pop()
	if !ok {
		return bad("the broker sent a response (correlation id %d) to no request", corr)
	}
	if e.corr != corr {
		return bad("the broker answered correlation id %d, expected %d (%s v%d)", corr, e.corr, kmsg.NameForKey(e.key), e.version)
	}
	if rewrites(e.key, e.version) {
		if e.key == keyFetch {
			return c.streamFetch(e, size)
		}
		return c.rewriteResponse(e, size)
	}
	if size <= smallFrame {
		bp := c.p.getWindow()
		defer c.p.putWindow(bp)
		frame := (*bp)[:4+size]
		copy(frame, c.resp[:])
		if _, err := io.ReadFull(c.up, frame[8:]); err != nil {
			return err
		}
		_, err := c.client.Write(frame)
		return err
	}
	if _, err := c.respW.Write(c.resp[:]); err != nil {
		return err
	}
	return copyN(c.client, c.up, int64(size)-4, &c.respLR, &c.respW, c.p)
}

// rewriteResponse reads a response that carries broker addresses whole
// (into memory that grows as its bytes arrive), rewrites them and writes
// the result.
func (c *conn) rewriteResponse(e inflight, size int32) error {
	bp := c.p.getWindow()
	defer c.p.putWindow(bp)
	frame, err := readGrowing(c.up, append((*bp)[:0], c.resp[:]...), 4+int(size))
	*bp = frame[:0]
	if err != nil {
		return err
	}
	keep, tail, err := rewriteBody(e.key, e.version, frame[8:], nil, c.mapNode)
	if err != nil {
		return bad("%s v%d response: %v", kmsg.NameForKey(e.key), e.version, err)
	}
	if tail == nil {
		_, err = c.client.Write(frame)
		return err
	}
	n := 4 + int64(keep) + int64(len(tail))
	if n > int64(c.p.cfg.maxFrame) {
		return bad("%s v%d response: rewritten frame of %d bytes over the bound %d", kmsg.NameForKey(e.key), e.version, n, c.p.cfg.maxFrame)
	}
	binary.BigEndian.PutUint32(frame, uint32(n))
	if _, err := c.client.Write(frame[:8+keep]); err != nil {
		return err
	}
	_, err = c.client.Write(tail)
	return err
}

// mapNode gives the local address of node id, as rewriteBody asks.
func (c *conn) mapNode(id int32, host string, port int32) (string, int32) {
	if id < 0 {
		return "", -1
	}
	_, lport := c.p.localFor(id, net.JoinHostPort(host, itoa(port)))
	return c.host, lport
}

// readGrowing reads n bytes from r into buf, growing it as the bytes
// arrive rather than allocating n up front.
func readGrowing(r io.Reader, buf []byte, n int) ([]byte, error) {
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(max(cap(buf), 4096), n-len(buf)))...)[:len(buf)]
		}
		m, err := r.Read(buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+m]
		if err != nil {
			if err == io.EOF && len(buf) < n {
				err = io.ErrUnexpectedEOF
			}
			if len(buf) < n {
				return buf, err
			}
		}
	}
	return buf, nil
}

// copyN copies n bytes from src to dst: spliced by the kernel when both
// are TCP connections, else through a pooled buffer. lr and w are the
// caller's, reused so that no frame allocates.
func copyN(dst, src net.Conn, n int64, lr *io.LimitedReader, w *writerOnly, p *Proxy) error {
	if n <= 0 {
		return nil
	}
	lr.R, lr.N = src, n
	var err error
	if tc, ok := dst.(*net.TCPConn); ok {
		if _, ok := src.(*net.TCPConn); ok {
			_, err = tc.ReadFrom(lr)
		}
	}
	if lr.N == n && err == nil {
		bp := p.getBuf()
		_, err = io.CopyBuffer(w, lr, *bp)
		p.putBuf(bp)
	}
	if err == nil && lr.N > 0 {
		err = io.ErrUnexpectedEOF
	}
	return err
}
