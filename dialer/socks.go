package dialer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"golang.org/x/net/proxy"
)

// socksHop dials through a SOCKS5 proxy (RFC 1928, username/password per
// RFC 1929) with golang.org/x/net/proxy. The connection it returns is the one
// its forward dialer made to the proxy, so deadlines and CloseWrite work as
// they do on that connection.
type socksHop struct {
	name       string // masked URL, for errors
	proxyAddr  string
	remoteName bool // socks5h: the proxy resolves names
	forward    ContextDialer
	handshake  interface {
		DialWithConn(ctx context.Context, c net.Conn, network, address string) (net.Addr, error)
	}
	resolver *net.Resolver
}

func newSOCKSHop(u *url.URL, forward ContextDialer) (*socksHop, error) {
	port := u.Port()
	if port == "" {
		port = "1080"
	}
	h := &socksHop{
		name:       maskHop(u.String()),
		proxyAddr:  net.JoinHostPort(u.Hostname(), port),
		remoteName: strings.EqualFold(u.Scheme, "socks5h"),
		forward:    forward,
		resolver:   net.DefaultResolver,
	}
	var auth *proxy.Auth
	if u.User != nil {
		pass, _ := u.User.Password()
		auth = &proxy.Auth{User: u.User.Username(), Password: pass}
		if len(auth.User) > 255 || len(auth.Password) > 255 {
			return nil, fmt.Errorf("hop %s: SOCKS5 user name and password are limited to 255 bytes", h.name)
		}
	}
	pd, err := proxy.SOCKS5("tcp", h.proxyAddr, auth, nil)
	if err != nil {
		return nil, fmt.Errorf("hop %s: %w", h.name, err)
	}
	hs, ok := pd.(interface {
		DialWithConn(ctx context.Context, c net.Conn, network, address string) (net.Addr, error)
	})
	if !ok {
		return nil, fmt.Errorf("hop %s: golang.org/x/net/proxy's SOCKS5 dialer lacks DialWithConn", h.name)
	}
	h.handshake = hs
	return h, nil
}

func (h *socksHop) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("%s: network %q not supported through SOCKS5", h.name, network)
	}
	target := addr
	if !h.remoteName {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if net.ParseIP(host) == nil {
			ips, err := h.resolver.LookupNetIP(ctx, "ip", host)
			if err != nil {
				return nil, fmt.Errorf("%s resolves names locally (socks5h:// lets the proxy resolve them): %w", h.name, err)
			}
			if len(ips) == 0 {
				return nil, fmt.Errorf("%s: no address for %s", h.name, host)
			}
			target = net.JoinHostPort(ips[0].Unmap().String(), port)
		}
	}
	conn, err := h.forward.DialContext(ctx, "tcp", h.proxyAddr)
	if err != nil {
		return nil, fmt.Errorf("%s: connecting to the proxy: %w", h.name, dialCause(err))
	}
	if _, err := h.handshake.DialWithConn(ctx, conn, "tcp", target); err != nil {
		conn.Close()
		if ce := ctx.Err(); ce != nil && !errors.Is(err, ce) {
			err = fmt.Errorf("%w (%w)", ce, err)
		}
		return nil, fmt.Errorf("%s: %w", h.name, err)
	}
	return conn, nil
}
