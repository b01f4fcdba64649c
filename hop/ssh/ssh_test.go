package ssh_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/hop/ssh"
	"github.com/kafkadial/kafkadial/internal/testnet"
	"github.com/kafkadial/kafkadial/internal/testpeers"
)

// The hop on its own, with no kafkadial dialer: New with an ssh_config
// alias, through a real OpenSSH server, then Close.
func TestNewAlone(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := testnet.Listen(t, testnet.Echo)
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	os.WriteFile(cfg, []byte(fmt.Sprintf("Host bastion\n  HostName 127.0.0.1\n  Port %d\n  User root\n  IdentityFile %s\n  UserKnownHostsFile %s\n",
		s.Port, s.Key, s.KnownHosts(t))), 0o600)
	env := func(k string) string { return map[string]string{"HOME": t.TempDir()}[k] }
	h, err := ssh.New("ssh://bastion", &net.Dialer{}, ssh.WithConfigFile(cfg), ssh.WithGetenv(env), ssh.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 2 {
		c, err := h.DialContext(ctx, "tcp", echo)
		if err != nil {
			t.Fatal(err)
		}
		msg := fmt.Sprintf("through the bastion %d", i)
		io.WriteString(c, msg)
		buf := make([]byte, len(msg))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q, %v", buf, err)
		}
		// A deadline in the past fails the next read with a timeout.
		c.SetReadDeadline(time.Unix(1, 0))
		var ne net.Error
		if _, err := c.Read(buf); !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("read after the deadline: %v", err)
		}
		c.Close()
	}
	// A target that closes first: the conn reads the end of the stream,
	// and closing it after that is no error, as on TCP.
	closer := testnet.Listen(t, testnet.Close)
	c, err := h.DialContext(ctx, "tcp", closer)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read from a target that closed: %d, %v; want io.EOF", n, err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close after the target closed: %v", err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v, want net.ErrClosed", err)
	}
	if n := strings.Count(s.Log(), "Accepted publickey for root"); n != 1 {
		t.Fatalf("%d logins for three dials, want 1 shared connection:\n%s", n, s.Log())
	}
	h.Close()
	if _, err := h.DialContext(ctx, "tcp", echo); !errors.Is(err, ssh.ErrClosed) {
		t.Fatalf("dial after Close: %v", err)
	}
}

// An unknown host key is refused with a *HostKeyError, never accepted.
func TestNewUnknownHostKey(t *testing.T) {
	s := testpeers.StartSSHD(t)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, nil, 0o600)
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	os.WriteFile(cfg, []byte(fmt.Sprintf("Host b\n  HostName 127.0.0.1\n  Port %d\n  User root\n  IdentityFile %s\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n",
		s.Port, s.Key, kh)), 0o600)
	h, err := ssh.New("ssh://b", &net.Dialer{}, ssh.WithConfigFile(cfg), ssh.WithGetenv(func(string) string { return "" }))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	_, err = h.DialContext(context.Background(), "tcp", "127.0.0.1:1")
	var he *ssh.HostKeyError
	if !errors.As(err, &he) || he.Fingerprint != s.HostFP {
		t.Fatalf("dial: %v", err)
	}
}

func TestNewRefusesBadURLs(t *testing.T) {
	for u, want := range map[string]string{
		"http://h:1":        "not ssh",
		"ssh://u:s3cret@:1": "no host",
		"ssh://h:0":         "bad port",
	} {
		_, err := ssh.New(u, &net.Dialer{}, ssh.WithConfigFile(""))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%q) = %v, want an error with %q", u, err, want)
		}
	}
}
