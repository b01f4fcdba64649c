package ssh

import (
	"errors"
	"io"
	"net"

	"github.com/kafkadial/kafkadial/hop/streamconn"
	gossh "golang.org/x/crypto/ssh"
)

// errTargetClosed is a Write's error when the target closed the channel
// while the SSH connection is fine.
var errTargetClosed = errors.New("broken pipe: the target closed the connection")

// newChannelConn returns a net.Conn over ch, an SSH channel that carries a
// byte stream, with read and write deadlines and CloseWrite (SSH EOF),
// which x/crypto/ssh's channels lack. lost, when not nil, is asked at the
// end of the stream: a non-nil error it returns (the SSH connection under
// the channel failed) is reported instead of io.EOF.
func newChannelConn(ch gossh.Channel, local, remote net.Addr, lost func() error) *streamconn.Conn {
	if lost == nil {
		lost = func() error { return nil }
	}
	go io.Copy(io.Discard, ch.Stderr()) // direct-tcpip has none
	return streamconn.New(ch, streamconn.Options{
		Local:  local,
		Remote: remote,
		// One SSH packet's worth of data (OpenSSH's and x/crypto's maximum).
		ChunkSize: 32 << 10,
		// Closing a channel ends a Write waiting for window.
		CloseUnblocksWrite: true,
		ReadErr: func(err error) error {
			if err == io.EOF {
				if l := lost(); l != nil {
					return l
				}
			}
			return err
		},
		WriteErr: func(err error) error {
			if l := lost(); l != nil {
				return l
			}
			if err == io.EOF {
				return errTargetClosed
			}
			return err
		},
	})
}
