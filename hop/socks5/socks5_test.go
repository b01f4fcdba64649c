package socks5_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/hop"
	"github.com/kafkadial/kafkadial/hop/socks5"
	"github.com/kafkadial/kafkadial/internal/testnet"
	"github.com/kafkadial/kafkadial/internal/testpeers"
)

// The hop on its own, with no kafkadial dialer: a plain ContextDialer
// through a real microsocks.
func TestHopAlone(t *testing.T) {
	echo := testnet.Listen(t, testnet.Echo)
	_, port, _ := net.SplitHostPort(echo)
	proxy, _ := testpeers.StartMicrosocks(t, "kafka", "s3cret")
	for _, u := range []string{"socks5h://kafka:s3cret@" + proxy, "socks5://kafka:s3cret@" + proxy} {
		h, err := socks5.New(u, &net.Dialer{})
		if err != nil {
			t.Fatal(err)
		}
		var d hop.ContextDialer = h
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := d.DialContext(ctx, "tcp", "localhost:"+port)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", hop.Mask(u), err)
		}
		if _, err := io.WriteString(c, "ping"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("%s: echo %q, %v", hop.Mask(u), buf, err)
		}
		c.Close()
	}
	h, _ := socks5.New("socks5h://kafka:wrong@"+proxy, &net.Dialer{})
	_, err := h.DialContext(context.Background(), "tcp", echo)
	if err == nil || strings.Contains(err.Error(), "wrong") || !strings.Contains(err.Error(), proxy) {
		t.Fatalf("bad password: %v", err)
	}
}

func TestNewRefusesBadURLs(t *testing.T) {
	for u, want := range map[string]string{
		"http://127.0.0.1:1":        "not socks5",
		"socks5://u:pw@/":           "no host",
		"socks5://h:0":              "bad port",
		"socks5://h:1/path":         "unexpected path",
		"socks5://u:s3cret@h:1\x7f": "bad hop URL",
		"socks5://" + strings.Repeat("u", 256) + ":p@h:1": "255 bytes",
	} {
		_, err := socks5.New(u, &net.Dialer{})
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%q) = %v, want an error with %q", u, err, want)
		}
	}
}
