// Package httpconnect is a hop through an HTTP proxy with the CONNECT
// method (RFC 9110 section 9.3.6), sending basic credentials when the URL
// has a user.
//
//	h, err := httpconnect.New("http://user:secret@127.0.0.1:3128", &net.Dialer{})
//	if err != nil { ... }
//	conn, err := h.DialContext(ctx, "tcp", "kafka-1:9092")
//
// A proxy that refuses the credentials fails the dial with an error
// wrapping [ErrProxyAuth]. Rules name it as "via http://host:port"; the
// dialer builds it with [Builder].
package httpconnect

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/kafkadial/kafkadial/hop"
	"github.com/kafkadial/kafkadial/internal/netx"
)

// Hop dials through an HTTP proxy with CONNECT. Once the proxy has said
// 200, the connection it returns is the one its forward dialer made to the
// proxy (bytes the proxy sent early are read first), so deadlines and
// CloseWrite work as they do on that connection.
type Hop struct {
	name      string // masked URL, for errors
	proxyAddr string
	auth      string // the Proxy-Authorization value, or ""
	forward   hop.ContextDialer
}

var _ hop.ContextDialer = (*Hop)(nil)

// New returns a hop through the proxy that rawURL names
// (http://[user:password@]host[:port], port 80 by default), reached through
// forward.
func New(rawURL string, forward hop.ContextDialer) (*Hop, error) {
	u, err := hop.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return NewURL(u, forward)
}

// Builder builds http:// hops for a dialer.
var Builder hop.Builder = hop.BuilderFunc(func(req hop.Request) (hop.ContextDialer, error) {
	return NewURL(req.URL, req.Forward)
})

// NewURL is New with a parsed URL.
func NewURL(u *url.URL, forward hop.ContextDialer) (*Hop, error) {
	if err := hop.CheckRequest(u, forward, "http"); err != nil {
		return nil, err
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	h := &Hop{
		name:      hop.Mask(u.String()),
		proxyAddr: net.JoinHostPort(u.Hostname(), port),
		forward:   forward,
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		h.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass))
	}
	return h, nil
}

// ErrProxyAuth is wrapped by the error of a dial that an HTTP proxy refused
// with 407 Proxy Authentication Required.
var ErrProxyAuth = errors.New("proxy authentication required")

// DialContext connects to addr through the proxy. Only TCP is supported.
func (h *Hop) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("%s: network %q not supported through HTTP CONNECT", h.name, network)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, err
	}
	if strings.ContainsAny(addr, " \r\n") {
		return nil, fmt.Errorf("%s: bad target %q", h.name, addr)
	}
	conn, err := h.forward.DialContext(ctx, "tcp", h.proxyAddr)
	if err != nil {
		return nil, fmt.Errorf("%s: connecting to the proxy: %w", h.name, netx.DialCause(err))
	}
	done := netx.WatchCtx(ctx, conn)
	br, err := h.connect(conn, addr)
	if cerr := done(); cerr != nil {
		if err == nil {
			err = errors.New("the proxy answered too late")
		}
		err = fmt.Errorf("%w (%w)", cerr, err)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: CONNECT %s: %w", h.name, addr, err)
	}
	if n := br.Buffered(); n > 0 {
		// The target spoke first and its bytes came with the response.
		early, _ := br.Peek(n)
		return &prefixConn{Conn: conn, early: append([]byte(nil), early...)}, nil
	}
	return conn, nil
}

func (h *Hop) connect(conn net.Conn, addr string) (*bufio.Reader, error) {
	var b strings.Builder
	b.WriteString("CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n")
	if h.auth != "" {
		b.WriteString("Proxy-Authorization: " + h.auth + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return nil, fmt.Errorf("reading the proxy's response: %w", err)
	}
	// A successful CONNECT has no body; an error response's body is short
	// and not ours to keep.
	if resp.StatusCode/100 != 2 {
		resp.Body.Close()
		// 407 is the standard answer; some proxies (tinyproxy) send 401.
		if resp.StatusCode == http.StatusProxyAuthRequired || resp.StatusCode == http.StatusUnauthorized {
			if h.auth == "" {
				return nil, fmt.Errorf("%w (%s): give user:password in the hop URL", ErrProxyAuth, resp.Status)
			}
			return nil, fmt.Errorf("%w (%s): the proxy refused the credentials", ErrProxyAuth, resp.Status)
		}
		return nil, fmt.Errorf("proxy answered %q", resp.Status)
	}
	return br, nil
}

// prefixConn returns bytes that arrived with the proxy's response before
// reading the connection.
type prefixConn struct {
	net.Conn
	early []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.early) > 0 {
		n := copy(p, c.early)
		c.early = c.early[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes the connection when the underlying one can.
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
