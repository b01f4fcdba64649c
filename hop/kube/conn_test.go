package kube

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/streaming/pkg/httpstream"
	httpstreamspdy "k8s.io/streaming/pkg/httpstream/spdy"
)

// forwardServer is the node side of a port-forward connection over a real
// SPDY connection on loopback: it pairs each request's error and data
// streams and echoes the data stream; port 9999 answers on the error
// stream instead, as a kubelet does when nothing listens.
func forwardServer(t *testing.T) (client httpstream.Connection, kill func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	errStreams := map[string]httpstream.Stream{}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		accepted <- c
		httpstreamspdy.NewServerConnection(c, func(s httpstream.Stream, replySent <-chan struct{}) error {
			id := s.Headers().Get(corev1.PortForwardRequestIDHeader)
			switch s.Headers().Get(corev1.StreamType) {
			case corev1.StreamTypeError:
				mu.Lock()
				errStreams[id] = s
				mu.Unlock()
			case corev1.StreamTypeData:
				go func() {
					<-replySent
					mu.Lock()
					es := errStreams[id]
					mu.Unlock()
					if s.Headers().Get(corev1.PortHeader) == "9999" {
						io.WriteString(es, "failed to connect to localhost:9999: connection refused")
						es.Close()
						s.Close()
						return
					}
					io.Copy(s, s) // echo until the client's end of stream
					s.Close()
					es.Close()
				}()
			}
			return nil
		})
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client, err = httpstreamspdy.NewClientConnection(raw)
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, func() { server.Close() }
}

func testConn(t *testing.T, port int) (*conn, func()) {
	t.Helper()
	client, kill := forwardServer(t)
	a := &attempt{done: make(chan struct{}), conn: client, lost: make(chan struct{})}
	close(a.done)
	go func() {
		<-client.CloseChan()
		a.lostErr = ErrLost
		close(a.lost)
	}()
	data, errs, err := a.streams(port)
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(a, "pod p in namespace n", data, errs, addr("local"), addr("p.n:9092"))
	t.Cleanup(func() { c.Close() })
	return c, kill
}

func TestConnEchoAndCloseWrite(t *testing.T) {
	c, _ := testConn(t, 9092)
	msg := strings.Repeat("kafka", 20000) // several frames
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != msg {
		t.Fatalf("read %d bytes back, %v; want %d and EOF", len(got), err, len(msg))
	}
}

func TestConnDeadlines(t *testing.T) {
	c, _ := testConn(t, 9092)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want a timeout", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("read timed out after %v", el)
	}
	// A deadline moved into the future lets reads go on.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatalf("after a timeout: %v", err)
	}
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write past its deadline: %v", err)
	}
}

func TestConnKubeletError(t *testing.T) {
	c, _ := testConn(t, 9999)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if err == nil || !strings.Contains(err.Error(), "9999: connection refused") || !strings.Contains(err.Error(), "pod p in namespace n") {
		t.Fatalf("read: %v, want the kubelet's error", err)
	}
}

func TestConnLost(t *testing.T) {
	c, kill := testConn(t, 9092)
	kill()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, ErrLost) {
		t.Fatalf("read after the connection dropped: %v, want ErrLost", err)
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("write after the connection dropped succeeded")
	}
}

func TestConnClose(t *testing.T) {
	c, _ := testConn(t, 9092)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}
