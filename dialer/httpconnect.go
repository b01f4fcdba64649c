package dialer

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
)

// httpHop dials through an HTTP proxy with the CONNECT method (RFC 9110
// 9.3.6), sending basic credentials when the hop URL has a user.
type httpHop struct {
	name      string // masked URL, for errors
	proxyAddr string
	auth      string // the Proxy-Authorization value, or ""
	forward   ContextDialer
}

func newHTTPHop(u *url.URL, forward ContextDialer) (*httpHop, error) {
	port := u.Port()
	if port == "" {
		port = "80"
	}
	h := &httpHop{
		name:      maskHop(u.String()),
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

func (h *httpHop) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
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
		return nil, fmt.Errorf("%s: connecting to the proxy: %w", h.name, dialCause(err))
	}
	done := watchCtx(ctx, conn)
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

func (h *httpHop) connect(conn net.Conn, addr string) (*bufio.Reader, error) {
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
