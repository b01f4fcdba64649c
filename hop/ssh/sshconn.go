package ssh

import (
	"errors"
	"io"
	"net"

	"github.com/kafkadial/kafkadial/hop/streamconn"
	gossh "golang.org/x/crypto/ssh"
)

// NewChannelConn returns a net.Conn over ch, an SSH channel that carries a
// byte stream (direct-tcpip, or a session's stdin/stdout), with what
// x/crypto/ssh's channels lack (sarama fails every request on "deadline
// not supported"): read and write deadlines (a Read or Write that passes
// its deadline fails with an error whose Timeout() is true, and a Write
// interrupted so closes the conn) and CloseWrite (SSH EOF). local and
// remote are what LocalAddr and RemoteAddr report. lost, when not nil, is
// asked at the end of the stream: a non-nil error it returns (the SSH
// connection under the channel failed) is reported instead of io.EOF.
//
// The conn is a [streamconn.Conn]; the channel's stderr is drained so it
// never stalls the window.
func NewChannelConn(ch gossh.Channel, local, remote net.Addr, lost func() error) net.Conn {
	return newChannelConn(ch, local, remote, lost)
}

// errTargetClosed is a Write's error when the target closed the channel
// while the SSH connection is fine.
var errTargetClosed = errors.New("broken pipe: the target closed the connection")

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
