package dialer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"time"
)

// hopConfig holds what New needs to build hops named by URL: the ssh_config
// to read and, while New runs, the SSH hops built so far, so that every rule
// naming the same bastion shares one SSH connection.
type hopConfig struct {
	sshConfigSet  bool   // WithSSHConfig was given
	sshConfigPath string // its path; "" = read no ssh_config
	ssh           *sshSettings
	sshHops       map[sshHopKey]*sshHop
}

// urlHop builds the hop a rule names by URL (via scheme://...), reached
// through forward. Hops that hold resources are added to d.owned, which
// Close releases.
//
// Schemes:
//
//	ssh://[user@]host[:port]        OpenSSH semantics: host may be a Host alias of ssh_config
//	socks5://[user:pass@]host:port  SOCKS5; the target is resolved locally
//	socks5h://[user:pass@]host:port SOCKS5; the proxy resolves the target name
//	http://[user:pass@]host:port    HTTP CONNECT, with basic auth when a user is given
func (d *Dialer) urlHop(c *config, u *url.URL, forward ContextDialer) (ContextDialer, error) {
	shown := maskHop(u.String())
	if u.Hostname() == "" {
		return nil, fmt.Errorf("hop %s has no host", shown)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("hop %s: unexpected path, query or fragment (write scheme://[user@]host[:port])", shown)
	}
	if p := u.Port(); p != "" {
		if n, err := parsePort(p); err != nil || n == 0 {
			return nil, fmt.Errorf("hop %s: bad port %q", shown, p)
		}
	}
	switch strings.ToLower(u.Scheme) {
	case "ssh":
		return d.sshHop(c, u, forward)
	case "socks5", "socks5h":
		return newSOCKSHop(u, forward)
	case "http":
		return newHTTPHop(u, forward)
	}
	return nil, fmt.Errorf("unknown hop scheme %q in %s: use ssh, socks5, socks5h or http", u.Scheme, shown)
}

// sameDialer reports whether a and b are the same dialer, without panicking
// on dialer types that are not comparable.
func sameDialer(a, b ContextDialer) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb || !ta.Comparable() {
		return false
	}
	return a == b
}

// comparableDialer reports whether d can be a map key.
func comparableDialer(d ContextDialer) bool {
	return d != nil && reflect.TypeOf(d).Comparable()
}

// watchCtx makes conn honour ctx while a hop's handshake runs over it: the
// conn's deadline becomes ctx's, and cancelling ctx interrupts blocked I/O.
// The returned func undoes both; it reports ctx's error when ctx ended first.
func watchCtx(ctx context.Context, conn net.Conn) (done func() error) {
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

// dialCause strips the *net.OpError of a failed dial to a hop, keeping its
// cause: the Dialer reports a failed dial as one *net.OpError, and would
// otherwise drop the hop's explanation around the inner one.
func dialCause(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" && oe.Err != nil {
		return oe.Err
	}
	return err
}

// hopAddr is a net.Addr for a host:port that may be a name.
type hopAddr string

func (a hopAddr) Network() string { return "tcp" }
func (a hopAddr) String() string  { return string(a) }

// addrOf returns a *net.TCPAddr when hostport is an IP literal, else a
// hopAddr naming it.
func addrOf(hostport string) net.Addr {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return hopAddr(hostport)
}
