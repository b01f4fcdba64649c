package dialer

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/internal/testnet"
	"github.com/kafkadial/kafkadial/internal/testpeers"
)

func TestSOCKS5Hop(t *testing.T) {
	echo := echoServer(t, nil)
	_, echoPort, _ := net.SplitHostPort(echo)
	proxy, _ := testpeers.StartMicrosocks(t, "kafka", "pa:ss@word")
	user := "kafka:pa%3Ass%40word@"
	d, err := New(hopEnv(), WithTimeout(5*time.Second), WithRules(
		"h:1 => localhost:"+echoPort+" via socks5h://"+user+proxy+"\n"+
			"l:1 => localhost:"+echoPort+" via socks5://"+user+proxy+"\n"+
			"bad:1 => "+echo+" via socks5h://kafka:wrong@"+proxy+"\n"+
			"none:1 => "+echo+" via socks5h://"+proxy))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rt, _ := d.Route("h:1")
	if rt.Via != "socks5h://kafka:***@"+proxy {
		t.Fatalf("Route.Via = %q", rt.Via)
	}
	for _, a := range []string{"h:1", "l:1"} {
		c, err := d.Dial("tcp", a)
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		if _, ok := c.(*net.TCPConn); !ok {
			t.Errorf("%s: conn is %T, want the *net.TCPConn to the proxy (deadlines, CloseWrite)", a, c)
		}
		testnet.EchoRoundTrip(t, c, "through socks "+a)
		c.Close()
	}
	for _, a := range []string{"bad:1", "none:1"} {
		_, err := d.Dial("tcp", a)
		if err == nil {
			t.Fatalf("%s: dial worked with bad credentials", a)
		}
		if strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), "pa:ss") {
			t.Fatalf("%s: error shows the password: %v", a, err)
		}
		if !strings.Contains(err.Error(), proxy) {
			t.Errorf("%s: error %q does not name the proxy", a, err)
		}
	}
}

func TestHTTPConnectHop(t *testing.T) {
	echo := echoServer(t, nil)
	proxy := testpeers.StartTinyproxy(t, "kafka", "s3cret")
	d, err := New(hopEnv(), WithTimeout(5*time.Second), WithRules(
		"ok:1 => "+echo+" via http://kafka:s3cret@"+proxy+"\n"+
			"noauth:1 => "+echo+" via http://"+proxy+"\n"+
			"bad:1 => "+echo+" via http://kafka:wrong@"+proxy))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rt, _ := d.Route("ok:1")
	if rt.Via != "http://kafka:***@"+proxy {
		t.Fatalf("Route.Via = %q", rt.Via)
	}
	c, err := d.Dial("tcp", "ok:1")
	if err != nil {
		t.Fatal(err)
	}
	testnet.EchoRoundTrip(t, c, "through tinyproxy")
	c.Close()
	for _, a := range []string{"noauth:1", "bad:1"} {
		_, err := d.Dial("tcp", a)
		if !errors.Is(err, ErrProxyAuth) {
			t.Fatalf("%s: %v, want ErrProxyAuth", a, err)
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "wrong") {
			t.Fatalf("%s: error shows the password: %v", a, err)
		}
	}
}

func TestProxyDownFailsWithinTimeout(t *testing.T) {
	addr, cmd := testpeers.StartMicrosocks(t, "", "")
	echo := echoServer(t, nil)
	d, err := New(hopEnv(), WithTimeout(time.Second), WithRules("x:1 => "+echo+" via socks5h://"+addr))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := d.Dial("tcp", "x:1")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	cmd.Process.Kill()
	cmd.Wait()
	start := time.Now()
	_, err = d.Dial("tcp", "x:1")
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("dial with the proxy down: %v after %s", err, time.Since(start))
	}
	for _, w := range []string{"x:1", "socks5h://" + addr, "connecting to the proxy", "connection refused"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Errorf("error is %T, want a *net.OpError with Op dial", err)
	}
}

func TestHopRuleErrors(t *testing.T) {
	for _, tc := range []struct{ rules, want string }{
		{"a:1 => = via ftp://x:21", `unknown hop scheme "ftp"`},
		{"a:1 => = via socks5://:1080", "has no host"},
		{"a:1 => = via http://p:99999", "bad port"},
		{"a:1 => = via http://p:3128/path", "unexpected path"},
		{"a:1 => = via ssh://u:secret@h:0", "bad port"},
	} {
		_, err := New(hopEnv(), WithSSHConfig(""), WithRules(tc.rules))
		var re *RuleError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a *RuleError saying %q", tc.rules, err, tc.want)
			continue
		}
		if re.Line != 1 || re.Col != len("a:1 => = via ")+1 {
			t.Errorf("%q: position %d:%d, want the hop's", tc.rules, re.Line, re.Col)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: error shows the password: %v", tc.rules, err)
		}
	}
}

func TestHTTPConnectHopServerSpeaksFirst(t *testing.T) {
	// A target that writes a banner at once: its bytes may arrive with the
	// proxy's response, and must not be lost.
	banner := testnet.Listen(t, func(c net.Conn) {
		c.Write([]byte("HELLO banner\n"))
		c.Close()
	})
	proxy := testpeers.StartTinyproxy(t, "", "")
	d, err := New(hopEnv(), WithTimeout(5*time.Second), WithRules("b:1 => "+banner+" via http://"+proxy))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i := 0; i < 20; i++ {
		c, err := d.Dial("tcp", "b:1")
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != "HELLO banner\n" {
			t.Fatalf("banner: %q, %v", got, err)
		}
	}
}

func TestHTTPConnectHopMuteProxyTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	d, err := New(hopEnv(), WithTimeout(300*time.Millisecond), WithRules("x:1 => 127.0.0.1:9 via http://"+ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	start := time.Now()
	_, err = d.Dial("tcp", "x:1")
	var ne net.Error
	if err == nil || time.Since(start) > 2*time.Second || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("dial through a mute proxy: %v after %s, want a timeout after ~300ms", err, time.Since(start))
	}
	if !strings.Contains(err.Error(), "CONNECT 127.0.0.1:9") {
		t.Errorf("error %q does not say what was waited for", err)
	}
}
