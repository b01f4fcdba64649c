// Package netx holds the small net helpers that the dialer and the hops
// share: honouring a context during a handshake, reporting a hop's dial
// errors, and addresses that may be names.
package netx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// WatchCtx makes conn honour ctx while a hop's handshake runs over it: the
// conn's deadline becomes ctx's, and cancelling ctx interrupts blocked I/O.
// The returned func undoes both; it reports ctx's error when ctx ended first.
func WatchCtx(ctx context.Context, conn net.Conn) (done func() error) {
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() {
		if conn.SetDeadline(aLongTimeAgo) != nil {
			conn.Close() // a conn without deadlines: closing is the only interrupt
		}
	})
	return func() error {
		ended := !stop() // ctx ended, and the interrupt ran (or is running)
		conn.SetDeadline(time.Time{})
		if ended {
			return ctx.Err()
		}
		return nil
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// DialCause strips the *net.OpError of a failed dial to a hop, keeping its
// cause: the dialer reports a failed dial as one *net.OpError, and would
// otherwise drop the hop's explanation around the inner one.
func DialCause(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" && oe.Err != nil {
		return oe.Err
	}
	return err
}

// Addr is a net.Addr for a host:port that may be a name.
type Addr string

func (a Addr) Network() string { return "tcp" }
func (a Addr) String() string  { return string(a) }

// AddrOf returns a *net.TCPAddr when hostport is an IP literal, else an
// Addr naming it.
func AddrOf(hostport string) net.Addr {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return Addr(hostport)
}

// ParsePort parses a TCP port from 1 to 65535, written in decimal digits.
func ParsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("bad port %q: expected a number from 1 to 65535", s)
	}
	return n, nil
}
