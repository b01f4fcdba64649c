package kube

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/kafkadial/kafkadial/hop/streamconn"
	"k8s.io/streaming/pkg/httpstream"
)

// chunkSize bounds the data frames a conn writes and the buffers it reads
// into, as kubectl's io.Copy does: conns sharing a port-forward connection
// take turns in frames of this size.
const chunkSize = 32 << 10

// podStream is one port-forward request: a data stream and an error stream
// on the pod's shared connection. A streamconn.Conn over it gives deadlines
// and CloseWrite: writes that block in the shared connection return at
// their deadline, and the conn is then closed (the pod sees a reset).
//
// At the end of the data stream the error stream says whether the kubelet
// failed (it could not connect to the port, say), and the shared
// connection whether it was lost; either becomes the read error instead of
// io.EOF.
type podStream struct {
	att        *attempt // the shared connection the streams are on
	what       string   // "pod kafka-0 in namespace kafka", for messages
	data, errs httpstream.Stream

	errDone chan struct{} // closed when errMsg is set
	errMsg  error         // what the error stream said, or why it failed
	closed  chan struct{}
}

// conn is the net.Conn of one port-forward request.
type conn = streamconn.Conn

func newConn(att *attempt, what string, data, errs httpstream.Stream, laddr, raddr net.Addr) *conn {
	s := &podStream{att: att, what: what, data: data, errs: errs,
		errDone: make(chan struct{}), closed: make(chan struct{})}
	go s.readErrors()
	return streamconn.New(s, streamconn.Options{
		Local: laddr, Remote: raddr, ChunkSize: chunkSize,
		ReadErr: s.readErr, WriteErr: s.writeErr,
	})
}

func (s *podStream) Read(p []byte) (int, error)  { return s.data.Read(p) }
func (s *podStream) Write(p []byte) (int, error) { return s.data.Write(p) }

// CloseWrite half-closes the data stream: the pod reads the end of the
// stream while this side can still read.
func (s *podStream) CloseWrite() error { return s.data.Close() }

// Close resets both streams, so the kubelet closes its connection to the
// pod, and forgets them on the shared connection.
func (s *podStream) Close() error {
	close(s.closed)
	s.data.Reset()
	s.errs.Reset()
	s.att.conn.RemoveStreams(s.data, s.errs)
	return nil
}

// readErrors reads the error stream to its end: the kubelet writes there
// why forwarding failed, then closes it.
func (s *podStream) readErrors() {
	msg, err := io.ReadAll(io.LimitReader(s.errs, 4<<10))
	switch {
	case len(msg) > 0:
		s.errMsg = fmt.Errorf("port-forward to %s failed: %s", s.what, msg)
	case err != nil:
		s.errMsg = err
	}
	close(s.errDone)
}

// readErr says why the data stream ended: the kubelet's error, the lost
// connection, or err itself (io.EOF for a clean end).
func (s *podStream) readErr(err error) error {
	select {
	case <-s.errDone:
	case <-s.att.lost:
	case <-s.closed:
		return err
	case <-time.After(2 * time.Second): // a clean end closes both streams together
	}
	select {
	case <-s.errDone:
		if s.errMsg != nil {
			return s.errMsg
		}
	default:
	}
	if lost := s.lostErr(); lost != nil {
		return lost
	}
	if err != io.EOF {
		return fmt.Errorf("port-forward to %s: %w", s.what, err)
	}
	return err
}

func (s *podStream) writeErr(err error) error {
	if lost := s.lostErr(); lost != nil {
		return lost
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
		return fmt.Errorf("broken pipe: the port-forward stream to %s was closed", s.what)
	}
	return err
}

// lostErr is the error of the shared connection's end, or nil while it
// is open.
func (s *podStream) lostErr() error {
	select {
	case <-s.att.lost:
		return s.att.lostErr
	default:
		return nil
	}
}

func isClosedChan(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
