package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Hints logged for bad input.
const (
	hintClientTLS   = "client sent a TLS handshake to a plaintext listener: connect without TLS, or serve TLS to clients (WithTLS, kafkadial proxy --listen-cert/--listen-key)"
	hintClientHTTP  = "client sent an HTTP request to a Kafka listener: point a Kafka client at it, not a browser or HTTP tool"
	hintUpstreamTLS = "the broker answered with TLS: run with --tls (dialer.WithTLS)"
)

var errShort = errors.New("truncated")

// looksTLS reports whether b starts with a TLS record header: a handshake
// (0x16) or an alert (0x15) of TLS 1.x (0x03 0x0?).
func looksTLS(b []byte) bool {
	return len(b) >= 2 && (b[0] == 0x16 || b[0] == 0x15) && b[1] == 0x03
}

// looksHTTP reports whether b starts with an HTTP method.
func looksHTTP(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	switch string(b[:4]) {
	case "GET ", "POST", "PUT ", "HEAD", "DELE", "OPTI", "PATC", "CONN", "TRAC", "PRI ":
		return true
	}
	return false
}

// sniffClient says what the first four bytes of a client connection look
// like when they are not a Kafka frame size, or "".
func sniffClient(b []byte) string {
	switch {
	case b[0] == 0x16 && b[1] == 0x03:
		return hintClientTLS
	case looksHTTP(b):
		return hintClientHTTP
	}
	return ""
}

// uvarint decodes an unsigned varint of at most 5 bytes (a Kafka int32
// range), returning it and its length; n == 0 means b is too short, n < 0
// that it is too long.
func uvarint(b []byte) (uint32, int) {
	var x uint32
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0
		}
		c := b[i]
		if i == 4 && c > 0x0f {
			return 0, -1
		}
		x |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return x, i + 1
		}
	}
	return 0, -1
}

// skipTags returns the length of the tagged-field section at the start of
// b.
func skipTags(b []byte) (int, error) {
	r := walker{b: b}
	r.tags()
	return r.off, r.err
}

// walker reads Kafka's primitive types by length, without decoding what
// it skips. The first problem sticks in err.
type walker struct {
	b   []byte
	off int
	err error
}

func (w *walker) fail(what string) {
	if w.err == nil {
		w.err = fmt.Errorf("%s at byte %d: %w", what, w.off, errShort)
	}
}

func (w *walker) skip(n int) {
	if w.err != nil {
		return
	}
	if n < 0 || n > len(w.b)-w.off {
		w.fail("field")
		return
	}
	w.off += n
}

func (w *walker) uvarint() uint32 {
	if w.err != nil {
		return 0
	}
	x, n := uvarint(w.b[w.off:])
	if n <= 0 {
		w.fail("varint")
		return 0
	}
	w.off += n
	return x
}

func (w *walker) int16() int16 {
	if w.err != nil || len(w.b)-w.off < 2 {
		w.fail("int16")
		return 0
	}
	v := int16(binary.BigEndian.Uint16(w.b[w.off:]))
	w.off += 2
	return v
}

// compactLen reads a compact length (uvarint N+1; 0 is null, -1).
func (w *walker) compactLen() int {
	return int(w.uvarint()) - 1
}

// compactBytes skips a compact (nullable) string or bytes.
func (w *walker) compactBytes() {
	if n := w.compactLen(); n > 0 {
		w.skip(n)
	}
}

// tags skips a tagged-field section.
func (w *walker) tags() {
	for n := w.uvarint(); n > 0 && w.err == nil; n-- {
		w.uvarint() // tag
		w.skip(int(w.uvarint()))
	}
}
