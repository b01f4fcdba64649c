package proxy

import (
	"fmt"
	"net"
	"strconv"
)

// ErrClosed is returned by Start and Serve on a Proxy that was closed. It
// satisfies errors.Is(ErrClosed, net.ErrClosed).
var ErrClosed = fmt.Errorf("proxy: closed: %w", net.ErrClosed)

// ListenError is the error of Start when a listener cannot be opened, for
// example because its port is taken. NodeID is -1 for the bootstrap
// listener. Use errors.As to get it.
type ListenError struct {
	NodeID int32  // -1 for the bootstrap listener
	Addr   string // the host:port that could not be listened on
	Err    error  // the cause, as net.Listen returned it
}

func (e *ListenError) Error() string {
	who := "bootstrap"
	if e.NodeID >= 0 {
		who = "node " + strconv.Itoa(int(e.NodeID))
	}
	return fmt.Sprintf("proxy: listener for %s on %s: %v", who, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }
