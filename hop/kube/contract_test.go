package kube

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/hop"
)

// silentAPIServer is a TCP listener that accepts and never answers: a TLS
// handshake with it hangs until the client gives up.
func silentAPIServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "https://" + ln.Addr().String()
}

// WithTimeout is an upper bound, whichever of it and the dial's context
// ends first: a 1 s WithTimeout dial to a silent API server fails in about
// 1 s although its context allows 30 s (client-go's TLS handshake timeout
// is 10 s), and a context shorter than WithTimeout ends it first.
func TestTimeoutIsAnUpperBound(t *testing.T) {
	const slack = 2 * time.Second
	for _, c := range []struct {
		name        string
		withTimeout time.Duration
		ctxTimeout  time.Duration
		want        time.Duration
	}{
		{"WithTimeout first", time.Second, 30 * time.Second, time.Second},
		{"the context first", 30 * time.Second, time.Second, time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := New(WithKubeconfig(writeKubeconfig(t, silentAPIServer(t))), WithTimeout(c.withTimeout))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ctx, cancel := context.WithTimeout(context.Background(), c.ctxTimeout)
			defer cancel()
			start := time.Now()
			_, err = d.DialContext(ctx, "tcp", "kafka-0.kafka-headless.kafka.svc:9092")
			took := time.Since(start)
			var ke *Error
			if !errors.As(err, &ke) || !ke.Timeout() {
				t.Fatalf("got %v, want a *kube.Error that is a timeout", err)
			}
			if took < c.want-100*time.Millisecond || took > c.want+slack {
				t.Fatalf("the dial took %s, want about %s: %v", took, c.want, err)
			}
		})
	}
}

// The option contract: nil options are ignored, a bad value is an error
// naming the option, WithLogger(nil) discards.
func TestOptionContract(t *testing.T) {
	path := writeKubeconfig(t, "https://127.0.0.1:1")
	d, err := New(nil, WithKubeconfig(path), WithLogger(nil), nil)
	if err != nil {
		t.Fatalf("nil options: %v", err)
	}
	d.Close()
	for _, c := range []struct {
		opts []Option
		want string
	}{
		{[]Option{WithKubeconfig(path), WithTimeout(-time.Second)}, "kube: WithTimeout: negative duration -1s"},
		{[]Option{WithClusterDomain("bad_label"), WithKubeconfig(path)}, `kube: WithClusterDomain: cluster domain "bad_label"`},
	} {
		if _, err := New(c.opts...); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("got %v, want an error starting %q", err, c.want)
		}
	}
	// Order does not matter: the context given before or after the file.
	for _, opts := range [][]Option{
		{WithContext("bare"), WithKubeconfig(path), WithNamespace("x")},
		{WithNamespace("x"), WithKubeconfig(path), WithContext("bare")},
	} {
		d, err := New(opts...)
		if err != nil || d.Context() != "bare" || d.Namespace() != "x" {
			t.Fatalf("%v %v", d, err)
		}
		d.Close()
	}
}

// An option given twice with different values is refused by New and by a
// Builder's Build with an error naming it, whatever the order; the same
// value twice is no conflict. A hop URL is not an option: its context,
// namespace and cluster domain replace the Builder's.
func TestOptionGivenTwice(t *testing.T) {
	path := writeKubeconfig(t, "https://127.0.0.1:1")
	other := writeKubeconfig(t, "https://127.0.0.1:1")
	l := slog.New(slog.DiscardHandler)
	for _, c := range []struct {
		opts []Option
		want string
	}{
		{[]Option{WithKubeconfig(path), WithKubeconfig(other)}, "kube: WithKubeconfig given twice with different values: options apply in any order, so give it once"},
		{[]Option{WithContext("bare"), WithContext("prod")}, "kube: WithContext given twice with different values"},
		{[]Option{WithNamespace("x"), WithNamespace("")}, "kube: WithNamespace given twice with different values"},
		{[]Option{WithTimeout(time.Second), WithTimeout(2 * time.Second)}, "kube: WithTimeout given twice with different values"},
		{[]Option{WithTimeout(-time.Second), WithTimeout(0)}, "kube: WithTimeout given twice with different values"},
		{[]Option{WithClusterDomain("a.example"), WithClusterDomain("b.example")}, "kube: WithClusterDomain given twice with different values"},
		{[]Option{WithLogger(nil), WithLogger(l)}, "kube: WithLogger given twice with different values"},
	} {
		for _, opts := range [][]Option{c.opts, reversed(c.opts)} {
			if d, err := New(append(opts, WithKubeconfig(path))...); err == nil || !strings.HasPrefix(err.Error(), c.want) {
				if err == nil {
					d.Close()
				}
				t.Errorf("New: got %v, want an error starting %q", err, c.want)
			}
			b := NewBuilder(append(opts, WithKubeconfig(path))...)
			u, _ := url.Parse("k8s://prod/kafka?cluster-domain=c.example")
			if _, err := b.Build(hop.Request{URL: u, Forward: &net.Dialer{}}); err == nil || !strings.HasPrefix(err.Error(), "hop k8s://prod/kafka?cluster-domain=c.example: "+c.want) {
				t.Errorf("Build: got %v, want an error starting %q", err, c.want)
			}
			b.Close()
		}
	}
	// The same value twice is no conflict.
	d, err := New(WithKubeconfig(path), WithKubeconfig(path), WithContext("bare"), WithContext("bare"),
		WithNamespace("x"), WithNamespace("x"), WithTimeout(time.Second), WithTimeout(time.Second),
		WithClusterDomain("a.example"), WithClusterDomain("a.example"), WithLogger(l), WithLogger(l), WithSPDY(), WithSPDY())
	if err != nil {
		t.Fatalf("the same values twice: %v", err)
	}
	if d.Context() != "bare" || d.Namespace() != "x" || d.ClusterDomain() != "a.example" {
		t.Errorf("context %q namespace %q domain %q", d.Context(), d.Namespace(), d.ClusterDomain())
	}
	d.Close()
	// The URL's context, namespace and domain replace the Builder's.
	b := NewBuilder(WithKubeconfig(path), WithContext("bare"), WithNamespace("x"), WithClusterDomain("a.example"))
	defer b.Close()
	u, _ := url.Parse("k8s://prod/kafka?cluster-domain=c.example")
	h, err := b.Build(hop.Request{URL: u, Forward: &net.Dialer{}})
	if err != nil {
		t.Fatal(err)
	}
	if d := h.(*Dialer); d.Context() != "prod" || d.Namespace() != "kafka" || d.ClusterDomain() != "c.example" {
		t.Errorf("context %q namespace %q domain %q, want the URL's", d.Context(), d.Namespace(), d.ClusterDomain())
	}
	u, _ = url.Parse("k8s://bare")
	h, err = b.Build(hop.Request{URL: u, Forward: &net.Dialer{}})
	if err != nil {
		t.Fatal(err)
	}
	if d := h.(*Dialer); d.Namespace() != "x" || d.ClusterDomain() != "a.example" {
		t.Errorf("namespace %q domain %q, want the Builder's where the URL names none", d.Namespace(), d.ClusterDomain())
	}
}

func reversed(opts []Option) []Option {
	out := make([]Option, len(opts))
	for i, o := range opts {
		out[len(opts)-1-i] = o
	}
	return out
}

// New keeps the cause of a kubeconfig it cannot load.
func TestNewKeepsCause(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	_, err := New(WithKubeconfig(missing))
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) {
		t.Fatalf("a missing kubeconfig: %v (%T), want it to match fs.ErrNotExist", err, errors.Unwrap(err))
	}
}

// ErrClosed matches net.ErrClosed; a Builder never hands out a closed
// Dialer, and refuses to build once closed.
func TestBuilderOwnsItsDialers(t *testing.T) {
	if !errors.Is(ErrClosed, net.ErrClosed) {
		t.Fatal("kube.ErrClosed does not match net.ErrClosed")
	}
	b := NewBuilder(WithKubeconfig(writeKubeconfig(t, "https://127.0.0.1:1")))
	u, _ := url.Parse("k8s://prod")
	build := func() (hop.ContextDialer, error) { return b.Build(hop.Request{URL: u, Forward: &net.Dialer{}}) }
	h, err := build()
	if err != nil {
		t.Fatal(err)
	}
	h.(*Dialer).Close()
	if _, err := h.DialContext(context.Background(), "tcp", "kafka:9092"); !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("a dial through a closed Dialer: %v", err)
	}
	h2, err := build()
	if err != nil || h2 == h || h2.(*Dialer).isClosed() {
		t.Fatalf("Build after its Dialer was closed: %v", err)
	}
	if h3, _ := build(); h3 != h2 {
		t.Fatal("the same URL built two open Dialers")
	}
	b.Close()
	if !h2.(*Dialer).isClosed() {
		t.Fatal("Builder.Close left its Dialer open")
	}
	if _, err := build(); !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Build after Close: %v", err)
	}
}
