package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	pfconst "k8s.io/apimachinery/pkg/util/portforward"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/websocket"
	httpstream "k8s.io/streaming/pkg/httpstream"
	streamspdy "k8s.io/streaming/pkg/httpstream/spdy"
)

// podConn is the one port-forward connection to a pod, shared by every
// conn to it. It is opened on first use; when it drops, the next dial opens
// a new one, and dials arriving meanwhile wait for that one attempt. The
// attempt runs on a context of its own, bounded by the Dialer's timeout and
// ended by Close, not on the context of the dial that started it: each
// waiting dial honours its own context only.
type podConn struct {
	d         *Dialer
	namespace string
	pod       string
	what      string // "pod kafka-0 in namespace kafka", for messages

	mu  sync.Mutex
	cur *attempt // the connection, or the attempt to open one
}

// attempt is one opening of the connection.
type attempt struct {
	done     chan struct{}
	conn     httpstream.Connection
	protocol string // "websocket" or "spdy"
	err      error
	lost     chan struct{} // closed when conn ends
	lostErr  error
	ids      atomic.Int64 // request IDs of its streams
}

// get returns the open connection, opening one if there is none or the
// last one dropped.
func (p *podConn) get(ctx context.Context) (*attempt, error) {
	p.mu.Lock()
	a := p.cur
	if a != nil {
		select {
		case <-a.done:
			if a.err != nil || isClosedChan(a.lost) {
				a = nil // failed or dropped: try again
			}
		default: // being opened: wait for it
		}
	}
	opener := a == nil
	if opener {
		a = &attempt{done: make(chan struct{}), lost: make(chan struct{})}
		p.cur = a
	}
	p.mu.Unlock()
	if opener {
		go p.open(a)
	}
	select {
	case <-a.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return a, a.err
}

func (p *podConn) open(a *attempt) {
	defer close(a.done)
	ctx, cancel := context.WithTimeout(context.Background(), p.d.opts.timeout)
	defer cancel()
	go func() { // Close ends the attempt
		select {
		case <-p.d.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	u := p.d.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(p.namespace).Name(p.pod).SubResource("portforward").URL()
	ws := &ctxDialer{ctx: ctx, dial: func(ctx context.Context) (httpstream.Connection, error) { return dialWebSocket(ctx, p.d.config, u) }}
	sp := &ctxDialer{ctx: ctx, dial: func(ctx context.Context) (httpstream.Connection, error) { return dialSPDY(ctx, p.d.config, u) }}
	var dialer httpstream.Dialer = sp
	if !p.d.opts.spdyOnly {
		dialer = portforward.NewFallbackDialerForStreaming(ws, sp, shouldFallback)
	}
	start := time.Now()
	conn, protocol, err := dialer.Dial(portforward.PortForwardProtocolV1Name)
	if err == nil && protocol != portforward.PortForwardProtocolV1Name {
		conn.Close()
		err = fmt.Errorf("the API server negotiated protocol %q, want %q", protocol, portforward.PortForwardProtocolV1Name)
	}
	if err != nil {
		a.err = err
		close(a.lost)
		return
	}
	a.conn = conn
	a.protocol = "spdy"
	if ws.used {
		a.protocol = "websocket"
	}
	p.d.log.LogAttrs(ctx, slog.LevelInfo, "kube: port-forward open",
		slog.String("context", p.d.context), slog.String("namespace", p.namespace), slog.String("pod", p.pod),
		slog.String("protocol", a.protocol), slog.Duration("took", time.Since(start)))
	go func() {
		select {
		case <-conn.CloseChan():
		case <-p.d.closing:
			conn.Close()
		}
		a.lostErr = fmt.Errorf("%w: the port-forward connection to %s ended", ErrLost, p.what)
		close(a.lost)
		select {
		case <-p.d.closing:
		default:
			p.d.log.LogAttrs(context.Background(), slog.LevelWarn, "kube: port-forward connection lost",
				slog.String("context", p.d.context), slog.String("namespace", p.namespace), slog.String("pod", p.pod),
				slog.String("protocol", a.protocol))
		}
	}()
}

// shouldFallback is kubectl's test for trying SPDY after the WebSocket
// upgrade failed: the API server refused the upgrade (an older server, a
// feature gate off, or RBAC allowing only the SPDY verb), or an HTTPS proxy
// that the WebSocket dialer cannot use.
func shouldFallback(err error) bool {
	return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
}

// ctxDialer is an httpstream.Dialer bound to one dial's context, so that
// client-go's fallback dialer (WebSocket first, SPDY when the upgrade is
// refused, as kubectl does) stops when the dial's context ends.
type ctxDialer struct {
	ctx  context.Context
	dial func(context.Context) (httpstream.Connection, error)
	used bool
}

func (d *ctxDialer) Dial(protocols ...string) (httpstream.Connection, string, error) {
	conn, err := d.dial(d.ctx)
	if err != nil {
		return nil, "", err
	}
	d.used = true
	return conn, portforward.PortForwardProtocolV1Name, nil
}

// dialWebSocket opens the port-forward as SPDY tunnelled in a WebSocket
// (client-go's NewSPDYOverWebsocketDialer, with a context).
func dialWebSocket(ctx context.Context, cfg *rest.Config, u *url.URL) (httpstream.Connection, error) {
	rt, holder, err := websocket.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	ws, err := websocket.Negotiate(rt, holder, req, pfconst.WebsocketsSPDYTunnelingPrefix+portforward.PortForwardProtocolV1Name)
	if err != nil {
		return nil, err
	}
	if got := ws.Subprotocol(); got != pfconst.WebsocketsSPDYTunnelingPrefix+portforward.PortForwardProtocolV1Name {
		ws.Close()
		return nil, &httpstream.UpgradeFailureError{Cause: fmt.Errorf("the API server negotiated WebSocket protocol %q", got)}
	}
	return streamspdy.NewClientConnectionWithPings(portforward.NewTunnelingConnection("kafkadial", ws), portforward.PingPeriod)
}

// dialSPDY opens the port-forward over SPDY as client-go's spdy.NewDialer
// does (its round tripper: TLS, proxy, the credentials' wrappers), with a
// context, and the API server's refusal kept as its status (client-go
// flattens it to a string).
func dialSPDY(ctx context.Context, cfg *rest.Config, u *url.URL) (httpstream.Connection, error) {
	tlsConfig, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return nil, err
	}
	proxy := http.ProxyFromEnvironment
	if cfg.Proxy != nil {
		proxy = cfg.Proxy
	}
	upgrader, err := streamspdy.NewRoundTripperWithConfig(streamspdy.RoundTripperConfig{TLS: tlsConfig, Proxier: proxy, PingPeriod: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	rt, err := rest.HTTPWrappersForConfig(cfg, upgrader)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Add(httpstream.HeaderProtocolVersion, portforward.PortForwardProtocolV1Name)
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var st metav1.Status
		if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
			return nil, &apierrors.StatusError{ErrStatus: st}
		}
		return nil, apierrors.NewGenericServerResponse(resp.StatusCode, http.MethodPost,
			schema.GroupResource{Resource: "pods/portforward"}, "", strings.TrimSpace(string(body)), 0, false)
	}
	conn, err := upgrader.NewConnection(resp)
	if err != nil {
		return nil, err
	}
	if protocol := resp.Header.Get(httpstream.HeaderProtocolVersion); protocol != portforward.PortForwardProtocolV1Name {
		conn.Close()
		return nil, fmt.Errorf("the API server negotiated protocol %q, want %q", protocol, portforward.PortForwardProtocolV1Name)
	}
	return conn, nil
}

// streams opens the error and data streams of one forwarded connection to
// port, as kubectl port-forward does.
func (a *attempt) streams(port int) (data, errs httpstream.Stream, err error) {
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(port))
	h.Set(corev1.PortForwardRequestIDHeader, strconv.FormatInt(a.ids.Add(1)-1, 10))
	errs, err = a.conn.CreateStream(h)
	if err != nil {
		return nil, nil, err
	}
	errs.Close() // nothing is written on the error stream
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err = a.conn.CreateStream(h)
	if err != nil {
		errs.Reset()
		a.conn.RemoveStreams(errs)
		return nil, nil, err
	}
	return data, errs, nil
}
