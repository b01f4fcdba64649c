package httpconnect_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/hop/httpconnect"
	"github.com/kafkadial/kafkadial/internal/testnet"
	"github.com/kafkadial/kafkadial/internal/testpeers"
)

// The hop on its own, with no kafkadial dialer, through a real tinyproxy.
func TestHopAlone(t *testing.T) {
	echo := testnet.Listen(t, testnet.Echo)
	proxy := testpeers.StartTinyproxy(t, "kafka", "s3cret")
	h, err := httpconnect.New("http://kafka:s3cret@"+proxy, &net.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := h.DialContext(ctx, "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	if cw, ok := c.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
		t.Fatalf("%T: no CloseWrite", c)
	}

	bad, _ := httpconnect.New("http://kafka:wrong@"+proxy, &net.Dialer{})
	_, err = bad.DialContext(ctx, "tcp", echo)
	if !errors.Is(err, httpconnect.ErrProxyAuth) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("bad password: %v", err)
	}
}

func TestNewRefusesBadURLs(t *testing.T) {
	for u, want := range map[string]string{
		"socks5://127.0.0.1:1": "not http",
		"http://u:s3cret@:1":   "no host",
		"http://h:70000":       "bad port",
		"http://h:1?x=1":       "unexpected path, query",
	} {
		_, err := httpconnect.New(u, &net.Dialer{})
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%q) = %v, want an error with %q", u, err, want)
		}
	}
}
