package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A Fetch response is passed on as it arrives: its size goes first, so
// it is kept; the walk by lengths reads only the structure around the
// records (through a small window, never past the frame), writes it on,
// and splices each partition's records straight from the broker's
// connection to the client's. Only the top-level tagged fields at the end
// are read whole; when they hold NodeEndpoints (tag 0), those are
// rewritten and the tagged fields re-encoded to exactly their former
// length (sameSizeTags).

// Window and copy sizes of a streamed response.
const (
	// windowSize is the window the structure of a streamed response
	// (and any record set shorter than spliceMin) moves through.
	windowSize = 16 << 10
	// spliceMin: a stretch of records at least this long that is not in
	// the window yet is spliced (copied without the window) rather than
	// read through it. Shorter ones cost fewer system calls through the
	// window.
	spliceMin = 8 << 10
	// smallFrame: a request or response frame of at most this many
	// bytes after its size is read whole and written in one go, rather
	// than its header written and the rest spliced.
	smallFrame = windowSize - 4
	// maxPooled bounds the buffers kept for reuse: a buffer that grew
	// beyond it (a large Metadata response) goes to the collector.
	maxPooled = 64 << 10
)

// stream walks one response frame from the broker to the client.
type stream struct {
	c    *conn
	buf  []byte
	w    int   // buf[w:r] is walked but not written yet
	r    int   // buf[r:n] is read but not walked yet
	n    int   // end of what is read
	left int64 // frame bytes not read from the broker yet
	read int64 // frame bytes read, size and correlation id included
	err  error // the first problem
}

func (s *stream) failf(format string, args ...any) {
	if s.err == nil {
		s.err = bad(format, args...)
	}
}

// avail is how many frame bytes are not walked yet.
func (s *stream) avail() int64 { return int64(s.n-s.r) + s.left }

// flush writes what is walked.
func (s *stream) flush() {
	if s.err != nil || s.r == s.w {
		return
	}
	if _, err := s.c.client.Write(s.buf[s.w:s.r]); err != nil {
		s.err = err
	}
	s.w = s.r
}

// fill makes buf[r:n] hold at least k bytes (k <= len(buf)/2), reading
// ahead as far as the window and the frame allow.
func (s *stream) fill(k int) bool {
	if s.err != nil {
		return false
	}
	have := s.n - s.r
	if have >= k {
		return true
	}
	if int64(k-have) > s.left {
		s.failf("field at byte %d runs past the end of the frame", s.pos())
		return false
	}
	if len(s.buf)-s.r < k {
		s.flush()
		if s.err != nil {
			return false
		}
		copy(s.buf, s.buf[s.r:s.n])
		s.n -= s.r
		s.r, s.w = 0, 0
	}
	room := int(min(int64(len(s.buf)-s.n), s.left))
	m, err := io.ReadAtLeast(s.c.up, s.buf[s.n:s.n+room], k-have)
	s.n += m
	s.left -= int64(m)
	s.read += int64(m)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		s.err = err
		return false
	}
	return true
}

// pos is the offset in the frame (after the size) of buf[r].
func (s *stream) pos() int64 { return s.read - int64(s.n-s.r) - 4 }

// skip walks k bytes, k <= len(buf)/2.
func (s *stream) skip(k int) {
	if s.fill(k) {
		s.r += k
	}
}

// pass passes k bytes on: through the window, or spliced when at least
// spliceMin of them are not in it yet.
func (s *stream) pass(k int64) {
	if s.err != nil || k <= 0 {
		return
	}
	if k > s.avail() {
		s.failf("field of %d bytes at byte %d runs past the end of the frame", k, s.pos())
		return
	}
	for k > 0 && s.err == nil {
		if s.r < s.n {
			step := int(min(k, int64(s.n-s.r)))
			s.r += step
			k -= int64(step)
			continue
		}
		if k >= spliceMin {
			s.flush()
			if s.err != nil {
				return
			}
			s.err = copyN(s.c.client, s.c.up, k, &s.c.respLR, &s.c.respW, s.c.p)
			s.left -= k
			s.read += k
			return
		}
		s.fill(1)
	}
}

// uvarint walks an unsigned varint.
func (s *stream) uvarint() uint32 {
	if !s.fill(int(min(5, s.avail()))) {
		return 0
	}
	x, n := uvarint(s.buf[s.r:s.n])
	if n <= 0 {
		s.failf("bad varint at byte %d", s.pos())
		return 0
	}
	s.r += n
	return x
}

// compactLen walks a compact length (uvarint N+1; 0 is null, -1).
func (s *stream) compactLen() int64 { return int64(s.uvarint()) - 1 }

// compactBytes passes a compact (nullable) string or bytes on.
func (s *stream) compactBytes() { s.pass(s.compactLen()) }

// tags passes a tagged-field section on.
func (s *stream) tags() {
	for n := s.uvarint(); n > 0 && s.err == nil; n-- {
		s.uvarint()
		s.pass(int64(s.uvarint()))
	}
}

// streamFetch passes a Fetch v12+ response of size bytes on (its size
// and correlation id are read, in c.resp), rewriting NodeEndpoints in its
// top-level tagged fields to the same length.
func (c *conn) streamFetch(e inflight, size int32) error {
	bp := c.p.getWindow()
	defer c.p.putWindow(bp)
	s := &c.st
	*s = stream{c: c, buf: *bp, left: int64(size) - 4, read: 8}
	s.n = copy(s.buf, c.resp[:])
	s.r = s.n

	s.tags()          // response header
	s.skip(4 + 2 + 4) // throttle, error code, session id
	for t := s.compactLen(); t > 0 && s.err == nil; t-- {
		if e.version >= 13 {
			s.skip(16) // topic id
		} else {
			s.compactBytes() // topic name
		}
		for p := s.compactLen(); p > 0 && s.err == nil; p-- {
			s.skip(4 + 2 + 8 + 8 + 8) // partition, error code, high watermark, last stable offset, log start offset
			for a := s.compactLen(); a > 0 && s.err == nil; a-- {
				s.skip(8 + 8) // aborted transaction: producer id, first offset
				s.tags()
			}
			s.skip(4)        // preferred read replica
			s.compactBytes() // records: spliced
			s.tags()
		}
		s.tags()
	}
	if s.err == nil {
		s.tail(e)
	}
	s.c, s.buf = nil, nil
	if err := s.err; err != nil {
		var bi *badInput
		if errors.As(err, &bi) {
			return bad("%s v%d response: %s", kmsg.NameForKey(e.key), e.version, bi.msg)
		}
		return err
	}
	return nil
}

// tail passes the top-level tagged fields on, the rest of the frame,
// rewriting NodeEndpoints.
func (s *stream) tail(e inflight) {
	t := s.avail()
	var b []byte // the tail, read whole
	inWindow := t <= int64(len(s.buf)/2)
	if inWindow {
		if !s.fill(int(t)) {
			return
		}
		b = s.buf[s.r : s.r+int(t)]
	} else {
		// Tagged fields larger than half the window: in memory of
		// their own, grown as they arrive.
		s.flush()
		if s.err != nil {
			return
		}
		var err error
		b, err = readGrowing(s.c.up, append([]byte(nil), s.buf[s.r:s.n]...), int(t))
		s.r, s.w, s.left = s.n, s.n, 0
		if err != nil {
			s.err = err
			return
		}
	}
	has, err := hasTag0(b)
	if err != nil {
		s.failf("top-level tags: %v", err)
		return
	}
	if !has {
		if inWindow {
			s.r += int(t)
			s.flush()
			return
		}
		s.flush()
		if s.err == nil {
			_, s.err = s.c.client.Write(b)
		}
		return
	}
	out, dropped, err := sameSizeTags(e.key, e.version, b, s.c.mapNode)
	if err != nil {
		s.failf("NodeEndpoints: %v", err)
		return
	}
	if dropped {
		c := s.c
		c.p.log.LogAttrs(c.p.ctx, slog.LevelDebug, "proxy: NodeEndpoints left out of a response: rewritten, they would not fit the size already sent; the client refreshes its metadata instead",
			c.attrs(slog.String("api", kmsg.NameForKey(e.key)), slog.Int("version", int(e.version)))...)
	}
	if inWindow {
		s.n = s.r // the tail is replaced
	}
	s.flush()
	if s.err == nil {
		_, s.err = s.c.client.Write(out)
	}
}

// tagField is one field of a tagged-field section.
type tagField struct {
	tag  uint32
	data []byte
}

// sameSizeTags rewrites the NodeEndpoints (tag 0) in b, the top-level
// tagged-field section (and anything after it) of a Fetch (or Produce)
// response at version, and re-encodes the section to exactly len(b)
// bytes. Where the rewritten section is shorter by 2 bytes or more, a
// field of a tag above every tag present pads it (its data zeros; clients
// skip tags they do not know). Where it is longer, or shorter by exactly
// one byte, NodeEndpoints are left out (dropped) and the freed bytes
// padded so: KIP-951 is an optimisation, and a client without them
// refreshes its metadata. Bytes after the section are not kept.
func sameSizeTags(key, version int16, b []byte, m mapper) (out []byte, dropped bool, err error) {
	w := walker{b: b}
	var fields []tagField
	var maxTag uint32
	for n := w.uvarint(); n > 0 && w.err == nil; n-- {
		tag := w.uvarint()
		l := int(w.uvarint())
		start := w.off
		w.skip(l)
		if w.err == nil {
			fields = append(fields, tagField{tag, b[start:w.off]})
			maxTag = max(maxTag, tag)
		}
	}
	if w.err != nil {
		return nil, false, w.err
	}
	if maxTag == 1<<32-1 {
		return nil, false, errors.New("no tag number left to pad with")
	}
	kept := fields[:0:0]
	for _, f := range fields {
		if f.tag == 0 {
			d, err := rewriteTag0(key, version, f.data, m)
			if err != nil {
				return nil, false, err
			}
			if d == nil {
				continue // no broker in it: nothing to pass on
			}
			f.data = d
		}
		kept = append(kept, f)
	}
	if out, ok := appendPadded(nil, kept, maxTag+1, len(b)); ok {
		return out, false, nil
	}
	without := kept[:0:0]
	for _, f := range kept {
		if f.tag != 0 {
			without = append(without, f)
		}
	}
	if out, ok := appendPadded(nil, without, maxTag+1, len(b)); ok {
		return out, true, nil
	}
	return nil, false, fmt.Errorf("tagged fields of %d bytes cannot be re-encoded to that size", len(b))
}

// rewriteTag0 rewrites the data of a top-level tag 0 (NodeEndpoints) with
// kmsg, around a response with no topics; nil means it names no broker.
func rewriteTag0(key, version int16, data []byte, m mapper) ([]byte, error) {
	var synth []byte
	var pre int // bytes before the tagged fields
	var resp kmsg.Response
	if key == keyFetch {
		synth = make([]byte, 11, 11+8+len(data))
		synth[10] = 1 // no topics
		pre, resp = 11, &kmsg.FetchResponse{Version: version}
	} else {
		synth = make([]byte, 5, 5+8+len(data))
		synth[0] = 1 // no topics, then throttle
		pre, resp = 5, &kmsg.ProduceResponse{Version: version}
	}
	synth = append(synth, 1, 0)
	synth = binary.AppendUvarint(synth, uint64(len(data)))
	synth = append(synth, data...)
	if err := resp.ReadFrom(synth); err != nil {
		return nil, err
	}
	if err := rewriteAddrs(resp, m); err != nil {
		return nil, err
	}
	enc := resp.AppendTo(nil)
	w := walker{b: enc, off: pre}
	for n := w.uvarint(); n > 0 && w.err == nil; n-- {
		tag := w.uvarint()
		l := int(w.uvarint())
		start := w.off
		w.skip(l)
		if tag == 0 && w.err == nil {
			return enc[start:w.off], nil
		}
	}
	return nil, w.err
}

// uvarintLen is the length of x as an unsigned varint.
func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// appendPadded appends the tagged-field section of fields, padded to
// exactly size bytes with one more field whose tag is at least minTag
// and whose data are zeros; ok is false when that cannot be done (the
// fields take more than size bytes, or all but one of them).
func appendPadded(dst []byte, fields []tagField, minTag uint32, size int) ([]byte, bool) {
	l := uvarintLen(uint64(len(fields)))
	for _, f := range fields {
		l += uvarintLen(uint64(f.tag)) + uvarintLen(uint64(len(f.data))) + len(f.data)
	}
	start := len(dst)
	if l == size {
		dst = binary.AppendUvarint(dst, uint64(len(fields)))
		for _, f := range fields {
			dst = appendTag(dst, f.tag, f.data)
		}
		return dst, true
	}
	// The pad field: the count grows by one, then tag, length, data.
	gap := size - l - (uvarintLen(uint64(len(fields)+1)) - uvarintLen(uint64(len(fields))))
	tag := uint64(minTag)
	for try := 0; try < 2; try++ {
		rest := gap - uvarintLen(tag) // length varint and data
		for k := 1; k <= 5; k++ {
			if d := rest - k; d >= 0 && uvarintLen(uint64(d)) == k {
				dst = binary.AppendUvarint(dst, uint64(len(fields)+1))
				for _, f := range fields {
					dst = appendTag(dst, f.tag, f.data)
				}
				dst = binary.AppendUvarint(dst, tag)
				dst = binary.AppendUvarint(dst, uint64(d))
				dst = append(dst, make([]byte, d)...)
				if len(dst)-start != size {
					panic("proxy: padded tags miscounted") // unreachable
				}
				return dst, true
			}
		}
		// d + len(d) skips one value at each varint length step (129,
		// 16386, ...): a tag one byte longer takes that byte.
		tag = max(tag, uint64(1)<<(7*uvarintLen(tag)))
		if tag > 1<<32-1 {
			break
		}
	}
	return dst[:start], false
}

func appendTag(dst []byte, tag uint32, data []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(tag))
	dst = binary.AppendUvarint(dst, uint64(len(data)))
	return append(dst, data...)
}
