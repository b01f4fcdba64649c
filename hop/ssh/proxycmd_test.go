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
	"github.com/kafkadial/kafkadial/internal/testenv"
	"github.com/kafkadial/kafkadial/internal/testnet"
	"github.com/kafkadial/kafkadial/internal/testpeers"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func echoOnce(t *testing.T, h *ssh.Hop, target, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := h.DialContext(ctx, "tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, msg)
	buf := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q, %v", buf, err)
	}
}

// HostName names no host that resolves: only the ProxyCommand (nc, with
// the port from %p) can have carried the connection. The tokens are
// expanded, the command runs through the shell, and Close ends it.
func TestProxyCommandCarriesTheConnection(t *testing.T) {
	testenv.Need(t, "nc")
	s := testpeers.StartSSHD(t)
	echo := testnet.Listen(t, testnet.Echo)
	log := filepath.Join(t.TempDir(), "proxycommand.log")
	cfg := writeConfig(t, fmt.Sprintf(`Host bastion
  HostName bastion.invalid
  Port %d
  User root
  IdentityFile %s
  UserKnownHostsFile %s
  HostKeyAlias 127.0.0.1
  ProxyCommand sh -c 'echo "%%h %%p %%r %%n 100%%%%" >> %s; exec nc 127.0.0.1 %%p'
`, s.Port, s.Key, s.KnownHosts(t), log))
	// The known_hosts entry is for [127.0.0.1]:port; HostKeyAlias makes
	// the check use it although HostName is another name.
	h, err := ssh.New("ssh://bastion", failDialer{t}, ssh.WithConfigFile(cfg), ssh.WithGetenv(func(k string) string {
		return map[string]string{"HOME": t.TempDir(), "SHELL": "/bin/sh"}[k]
	}))
	if err != nil {
		t.Fatal(err)
	}
	echoOnce(t, h, echo, "through the proxy command")
	echoOnce(t, h, echo, "the same connection")
	got, _ := os.ReadFile(log)
	if want := fmt.Sprintf("bastion.invalid %d root bastion 100%%\n", s.Port); string(got) != want {
		t.Fatalf("the command ran with %q, want %q once", got, want)
	}
	if n := strings.Count(s.Log(), "Accepted publickey for root"); n != 1 {
		t.Fatalf("%d logins, want 1", n)
	}
	h.Close()
	// The command (nc) has ended: nothing holds the sshd connection.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.Log(), "Disconnected from user root") && !strings.Contains(s.Log(), "Connection closed by") {
		if time.Now().After(deadline) {
			t.Fatalf("sshd still sees the connection after Close:\n%s", s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A command that exits at once fails the dial with its exit status and what
// it wrote to stderr, within the timeout.
func TestProxyCommandExitsAtOnce(t *testing.T) {
	testenv.Need(t, "ssh-keygen")
	key := filepath.Join(t.TempDir(), "id")
	testpeers.SSHKeygen(t, key, "")
	cfg := writeConfig(t, "Host b\n  User root\n  IdentityFile "+key+"\n  ProxyCommand sh -c 'echo no route to bastion >&2; exit 3'\n  UserKnownHostsFile /dev/null\n")
	h, err := ssh.New("ssh://b", failDialer{t}, ssh.WithConfigFile(cfg), ssh.WithGetenv(func(string) string { return "" }), ssh.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	start := time.Now()
	_, err = h.DialContext(context.Background(), "tcp", "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "no route to bastion") || time.Since(start) > 4*time.Second {
		t.Fatalf("dial after %s: %v", time.Since(start), err)
	}
}

// ProxyJump and ProxyCommand compete; the first one given wins, and
// "ProxyCommand none" turns it off.
func TestProxyCommandFirstOneWins(t *testing.T) {
	testenv.Need(t, "nc")
	s := testpeers.StartSSHD(t)
	echo := testnet.Listen(t, testnet.Echo)
	common := fmt.Sprintf("  HostName 127.0.0.1\n  Port %d\n  User root\n  IdentityFile %s\n  UserKnownHostsFile %s\n", s.Port, s.Key, s.KnownHosts(t))
	env := ssh.WithGetenv(func(k string) string { return map[string]string{"HOME": t.TempDir()}[k] })
	// ProxyCommand first: the jump host (which does not exist) is ignored.
	cfg := writeConfig(t, "Host b\n  ProxyCommand nc %h %p\n  ProxyJump nosuch.invalid\n"+common)
	h, err := ssh.New("ssh://b", failDialer{t}, ssh.WithConfigFile(cfg), env)
	if err != nil {
		t.Fatal(err)
	}
	echoOnce(t, h, echo, "command won")
	h.Close()
	// ProxyJump first: the command (which would fail) is ignored.
	cfg = writeConfig(t, "Host b\n  ProxyJump root@j\n  ProxyCommand false\nHost j\n"+common+"Host b\n"+common)
	h, err = ssh.New("ssh://b", &net.Dialer{}, ssh.WithConfigFile(cfg), env)
	if err != nil {
		t.Fatal(err)
	}
	echoOnce(t, h, echo, "jump won")
	h.Close()
	// none: a plain TCP connection through the forward dialer.
	cfg = writeConfig(t, "Host b\n  ProxyCommand none\n"+common)
	h, err = ssh.New("ssh://b", &net.Dialer{}, ssh.WithConfigFile(cfg), env)
	if err != nil {
		t.Fatal(err)
	}
	echoOnce(t, h, echo, "no command")
	h.Close()
	// A token ProxyCommand does not know is a configuration error.
	cfg = writeConfig(t, "Host b\n  ProxyCommand nc %h %k\n"+common)
	_, err = ssh.New("ssh://b", &net.Dialer{}, ssh.WithConfigFile(cfg), env)
	if err == nil || !strings.Contains(err.Error(), `token "%k" is not supported in ProxyCommand`) {
		t.Fatalf("bad token: %v", err)
	}
}

// failDialer fails the test if the hop dials through it: a ProxyCommand
// replaces the TCP connection.
type failDialer struct{ t *testing.T }

func (f failDialer) DialContext(_ context.Context, _, addr string) (net.Conn, error) {
	f.t.Errorf("forward dialer asked for %s", addr)
	return nil, errors.New("no dialing here")
}
