package ssh_test

// The hop's behaviour against a real OpenSSH sshd, with no kafkadial
// dialer: host keys, authentication, conns (deadlines, CloseWrite), the
// shared connection and its reconnect, ProxyJump, timeouts, keepalives and
// masked credentials. Every suite here needs root and Debian's
// openssh-server: outside CI (CI=true) it skips saying so.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/hop"
	"github.com/kafkadial/kafkadial/hop/ssh"
	"github.com/kafkadial/kafkadial/internal/testnet"
	"github.com/kafkadial/kafkadial/internal/testpeers"
)

// bastionConfig writes an ssh_config whose Host bastion is s, with extra
// lines for it.
func bastionConfig(t *testing.T, s *testpeers.SSHD, extra string) string {
	t.Helper()
	return writeConfig(t, fmt.Sprintf("Host bastion\n  HostName 127.0.0.1\n  Port %d\n  User root\n%s", s.Port, extra))
}

// trusted is the ssh_config lines that log in to s with its client key
// and trust its host key.
func trusted(t *testing.T, s *testpeers.SSHD) string {
	return fmt.Sprintf("  IdentityFile %s\n  UserKnownHostsFile %s\n", s.Key, s.KnownHosts(t))
}

// envOf is a WithGetenv function over fixed pairs: tests never read the
// machine's SSH_AUTH_SOCK or HOME.
func envOf(kv ...string) ssh.Option {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return ssh.WithGetenv(func(k string) string { return m[k] })
}

// newHop is ssh.New through forward (a net.Dialer when nil), failing the
// test on an error and closing the hop when it ends.
func newHop(t *testing.T, url string, forward hop.ContextDialer, opts ...ssh.Option) *ssh.Hop {
	t.Helper()
	if forward == nil {
		forward = &net.Dialer{}
	}
	h, err := ssh.New(url, forward, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// dial dials addr through d with a 10 s bound.
func dial(d hop.ContextDialer, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.DialContext(ctx, "tcp", addr)
}

func TestEchoAndCloseWrite(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := testnet.Listen(t, testnet.Echo)
	h := newHop(t, "ssh://bastion", nil, ssh.WithConfigFile(bastionConfig(t, s, trusted(t, s))), envOf())
	c, err := dial(h, echo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testnet.EchoRoundTrip(t, c, "hello through the bastion")

	// CloseWrite: the echo server sees EOF, closes, and we read EOF after
	// the last echoed bytes.
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("%T has no CloseWrite", c)
	}
	io.WriteString(c, "last")
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(c)
	if err != nil || string(rest) != "last" {
		t.Fatalf("after CloseWrite read %q, %v; want \"last\", nil", rest, err)
	}
	if !strings.Contains(s.Log(), "Accepted publickey for root") {
		t.Fatalf("sshd log shows no login:\n%s", s.Log())
	}
}

func TestConnDeadlines(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := testnet.Listen(t, testnet.Echo)
	h := newHop(t, "ssh://bastion", nil, ssh.WithConfigFile(bastionConfig(t, s, trusted(t, s))), envOf())
	c, err := dial(h, echo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// A read with nothing to read ends at its deadline with a timeout...
	if err := c.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatalf("SetReadDeadline: %v", err)
	}
	start := time.Now()
	_, err = c.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("read timed out after %s", el)
	}
	// ...and the conn stays usable, as a TCP conn does.
	testnet.EchoRoundTrip(t, c, "still alive")

	// A deadline set while a Read is blocked interrupts it.
	c.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); errc <- err }()
	testnet.WaitBlocked(t, "streamconn.(*Conn).Read")
	c.SetDeadline(time.Unix(1, 0))
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("interrupted read: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SetDeadline in the past did not interrupt a blocked Read")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write past the deadline: %v", err)
	}
	c.SetDeadline(time.Time{})
	testnet.EchoRoundTrip(t, c, "and again")

	c.Close()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v, want net.ErrClosed", err)
	}
}

func TestUnknownHostKeyRefused(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := testnet.Listen(t, testnet.Echo)
	kh := filepath.Join(t.TempDir(), "known_hosts") // does not exist
	cfg := bastionConfig(t, s, fmt.Sprintf("  IdentityFile %s\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile none\n", s.Key, kh))
	h := newHop(t, "ssh://bastion", nil, ssh.WithConfigFile(cfg), envOf())
	_, err := dial(h, echo)
	var hke *ssh.HostKeyError
	if !errors.As(err, &hke) {
		t.Fatalf("dial with an unknown host key: %v, want a *HostKeyError", err)
	}
	host := fmt.Sprintf("[127.0.0.1]:%d", s.Port)
	for _, want := range []string{host, s.HostFP, kh, "unknown"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if hke.Fingerprint != s.HostFP || hke.Host != host || len(hke.Known) != 0 {
		t.Errorf("HostKeyError = %+v", hke)
	}
	if strings.Contains(s.Log(), "Accepted publickey") {
		t.Error("the client logged in although the host key was refused")
	}
}

func TestChangedHostKeyRefused(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := testnet.Listen(t, testnet.Echo)
	other := testpeers.SSHKeygen(t, filepath.Join(t.TempDir(), "other"), "")
	kh := writeFile(t, "known_hosts", fmt.Sprintf("# a comment\n[127.0.0.1]:%d %s\n", s.Port, other))
	cfg := bastionConfig(t, s, fmt.Sprintf("  IdentityFile %s\n  UserKnownHostsFile %s\n  StrictHostKeyChecking accept-new\n", s.Key, kh))
	h := newHop(t, "ssh://bastion", nil, ssh.WithConfigFile(cfg), envOf())
	_, err := dial(h, echo)
	var hke *ssh.HostKeyError
	if !errors.As(err, &hke) || len(hke.Known) != 1 {
		t.Fatalf("dial with a changed host key: %v, want a *HostKeyError naming the known key", err)
	}
	for _, want := range []string{"CHANGED", s.HostFP, kh + ":2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	b, _ := os.ReadFile(kh)
	if strings.Count(string(b), "\n") != 2 {
		t.Errorf("accept-new changed known_hosts on a CHANGED key:\n%s", b)
	}
}

// A key marked @revoked is refused whatever StrictHostKeyChecking says,
// even with another line trusting it.
func TestRevokedHostKeyRefused(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := testnet.Listen(t, testnet.Echo)
	host := fmt.Sprintf("[127.0.0.1]:%d", s.Port)
	kh := writeFile(t, "known_hosts", fmt.Sprintf("%s %s\n@revoked * %s\n", host, s.HostPub, s.HostPub))
	for _, strict := range []string{"yes", "accept-new", "no"} {
		t.Run(strict, func(t *testing.T) {
			cfg := bastionConfig(t, s, fmt.Sprintf("  IdentityFile %s\n  UserKnownHostsFile %s\n  StrictHostKeyChecking %s\n", s.Key, kh, strict))
			h := newHop(t, "ssh://bastion", nil, ssh.WithConfigFile(cfg), envOf())
			_, err := dial(h, echo)
			var hke *ssh.HostKeyError
			if !errors.As(err, &hke) || !hke.Revoked || hke.Host != host || hke.Fingerprint != s.HostFP {
				t.Fatalf("dial with a revoked host key: %v (%+v), want a *HostKeyError with Revoked", err, hke)
			}
			for _, want := range []string{"REVOKED", s.HostFP, kh} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
		})
	}
	if strings.Contains(s.Log(), "Accepted publickey") {
		t.Error("the client logged in although the host key is revoked")
	}
}

// StrictHostKeyChecking no, as OpenSSH: an unknown key is added to
// known_hosts, a changed one is accepted with a warning in the log and
// known_hosts is left alone.
func TestStrictNo(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := testnet.Listen(t, testnet.Echo)
	host := fmt.Sprintf("[127.0.0.1]:%d", s.Port)
	var log bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &log}, nil))

	kh := filepath.Join(t.TempDir(), "known_hosts")
	cfg := bastionConfig(t, s, fmt.Sprintf("  IdentityFile %s\n  UserKnownHostsFile %s\n  StrictHostKeyChecking no\n", s.Key, kh))
	h := newHop(t, "ssh://bastion", nil, ssh.WithConfigFile(cfg), envOf(), ssh.WithLogger(logger))
	c, err := dial(h, echo)
	if err != nil {
		t.Fatalf("StrictHostKeyChecking no, unknown key: %v", err)
	}
	testnet.EchoRoundTrip(t, c, "unknown key accepted")
	c.Close()
	if b, _ := os.ReadFile(kh); !strings.Contains(string(b), strings.Fields(s.HostPub)[1]) {
		t.Fatalf("the unknown key was not added to known_hosts:\n%s", b)
	}

	other := testpeers.SSHKeygen(t, filepath.Join(t.TempDir(), "other"), "")
	changed := writeFile(t, "known_hosts", fmt.Sprintf("%s %s\n", host, other))
	cfg = bastionConfig(t, s, fmt.Sprintf("  IdentityFile %s\n  UserKnownHostsFile %s\n  StrictHostKeyChecking no\n", s.Key, changed))
	h = newHop(t, "ssh://bastion", nil, ssh.WithConfigFile(cfg), envOf(), ssh.WithLogger(logger))
	c, err = dial(h, echo)
	if err != nil {
		t.Fatalf("StrictHostKeyChecking no, changed key: %v", err)
	}
	testnet.EchoRoundTrip(t, c, "changed key accepted")
	c.Close()
	mu.Lock()
	text := log.String()
	mu.Unlock()
	if !strings.Contains(text, "level=WARN") || !strings.Contains(text, "accepting a changed host key") || !strings.Contains(text, "CHANGED") {
		t.Errorf("no warning for the changed key in the log:\n%s", text)
	}
	if b, _ := os.ReadFile(changed); string(b) != fmt.Sprintf("%s %s\n", host, other) {
		t.Errorf("known_hosts changed on a CHANGED key:\n%s", b)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAcceptNewAndHashedKnownHosts(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := testnet.Listen(t, testnet.Echo)
	kh := filepath.Join(t.TempDir(), "sub", "known_hosts")
	cfg := bastionConfig(t, s, fmt.Sprintf("  IdentityFile %s\n  UserKnownHostsFile %s\n", s.Key, kh))

	h, err := ssh.New("ssh://bastion", &net.Dialer{}, ssh.WithConfigFile(cfg), envOf())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dial(h, echo); err == nil {
		t.Fatal("StrictHostKeyChecking ask (the default) accepted an unknown key")
	}
	h.Close()

	acfg := bastionConfig(t, s, fmt.Sprintf("  IdentityFile %s\n  UserKnownHostsFile %s\n  StrictHostKeyChecking accept-new\n", s.Key, kh))
	h, err = ssh.New("ssh://bastion", &net.Dialer{}, ssh.WithConfigFile(acfg), envOf())
	if err != nil {
		t.Fatal(err)
	}
	c, err := dial(h, echo)
	if err != nil {
		t.Fatalf("accept-new: %v", err)
	}
	testnet.EchoRoundTrip(t, c, "accepted")
	c.Close()
	h.Close()

	// OpenSSH itself reads the line the hop wrote...
	out, err := exec.Command("ssh-keygen", "-F", fmt.Sprintf("[127.0.0.1]:%d", s.Port), "-f", kh).CombinedOutput()
	if err != nil || !strings.Contains(string(out), strings.Fields(s.HostPub)[1]) {
		t.Fatalf("ssh-keygen -F does not find the accepted key: %v\n%s", err, out)
	}
	// ...and after OpenSSH hashes the file, strict checking still passes.
	if out, err := exec.Command("ssh-keygen", "-H", "-f", kh).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -H: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(kh)
	if !strings.HasPrefix(string(b), "|1|") {
		t.Fatalf("known_hosts is not hashed:\n%s", b)
	}
	h = newHop(t, "ssh://bastion", nil, ssh.WithConfigFile(cfg), envOf())
	c, err = dial(h, echo)
	if err != nil {
		t.Fatalf("hashed known_hosts: %v", err)
	}
	testnet.EchoRoundTrip(t, c, "hashed")
	c.Close()
}

// startAgent runs a real ssh-agent and loads keys into it.
func startAgent(t *testing.T, keys ...string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh-agent made no socket %s in 10s", sock)
		}
		time.Sleep(10 * time.Millisecond) // poll the state, bounded by the deadline
	}
	for _, k := range keys {
		add := exec.Command("ssh-add", k)
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add: %v\n%s", err, out)
		}
	}
	return sock
}

func TestAuthentication(t *testing.T) {
	testpeers.NeedSSHD(t)
	keys := t.TempDir()
	agentKey := filepath.Join(keys, "agent_key")
	agentPub := testpeers.SSHKeygen(t, agentKey, "")
	encKey := filepath.Join(keys, "encrypted_key")
	encPub := testpeers.SSHKeygen(t, encKey, "correct horse")
	plainOfEnc := filepath.Join(keys, "plain_of_encrypted")
	// The same key as encKey, unencrypted, for the agent to hold.
	b, _ := os.ReadFile(encKey)
	os.WriteFile(plainOfEnc, b, 0o600)
	if out, err := exec.Command("ssh-keygen", "-p", "-P", "correct horse", "-N", "", "-f", plainOfEnc).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -p: %v\n%s", err, out)
	}
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	homePub := testpeers.SSHKeygen(t, filepath.Join(home, ".ssh", "id_ed25519"), "")
	emptyHome := t.TempDir()
	stranger := filepath.Join(keys, "stranger")
	testpeers.SSHKeygen(t, stranger, "")

	s := testpeers.StartSSHD(t, agentPub, encPub, homePub)
	echo := testnet.Listen(t, testnet.Echo)
	kh := s.KnownHosts(t)

	tests := []struct {
		name    string
		extra   string   // ssh_config lines
		env     []string // HOME, SSH_AUTH_SOCK
		agent   []string // keys the agent holds
		wantErr []string // "" = the dial works
	}{
		{name: "agent", env: []string{"HOME", emptyHome}, agent: []string{agentKey}},
		{name: "default identity ~/.ssh/id_ed25519", env: []string{"HOME", home}},
		{name: "IdentityFile", extra: "  IdentityFile " + s.Key + "\n", env: []string{"HOME", emptyHome}},
		{name: "encrypted IdentityFile, no agent", extra: "  IdentityFile " + encKey + "\n",
			env: []string{"HOME", emptyHome}, wantErr: []string{encKey, "encrypted", "no ssh-agent", "ssh-add"}},
		{name: "encrypted IdentityFile held by the agent", extra: "  IdentityFile " + encKey + "\n  IdentitiesOnly yes\n",
			env: []string{"HOME", emptyHome}, agent: []string{agentKey, plainOfEnc}},
		{name: "IdentitiesOnly skips other agent keys", extra: "  IdentityFile " + filepath.Join(keys, "missing") + "\n  IdentitiesOnly yes\n",
			env: []string{"HOME", emptyHome}, agent: []string{agentKey}, wantErr: []string{"no SSH identity", "missing does not exist"}},
		{name: "nothing to offer", env: []string{"HOME", emptyHome},
			wantErr: []string{"no SSH identity to offer", "SSH_AUTH_SOCK is unset"}},
		{name: "key the server does not accept", extra: "  IdentityFile " + stranger + "\n", env: []string{"HOME", emptyHome},
			wantErr: []string{"unable to authenticate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := append([]string(nil), tc.env...)
			if len(tc.agent) > 0 {
				e = append(e, "SSH_AUTH_SOCK", startAgent(t, tc.agent...))
			}
			cfg := bastionConfig(t, s, tc.extra+"  UserKnownHostsFile "+kh+"\n")
			h := newHop(t, "ssh://bastion", nil, ssh.WithConfigFile(cfg), envOf(e...), ssh.WithTimeout(5*time.Second))
			c, err := dial(h, echo)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				testnet.EchoRoundTrip(t, c, tc.name)
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("dial worked, want an error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestReconnectAfterServerRestart(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := testnet.Listen(t, testnet.Echo)
	fwd := &testnet.RecordingDialer{}
	h := newHop(t, "ssh://bastion", fwd, ssh.WithConfigFile(bastionConfig(t, s, trusted(t, s))), envOf())

	// Many conns share one SSH connection.
	var conns []net.Conn
	for i := 0; i < 5; i++ {
		c, err := dial(h, echo)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		testnet.EchoRoundTrip(t, c, "before")
		conns = append(conns, c)
	}
	if n := len(fwd.Dials()); n != 1 {
		t.Fatalf("5 dials made %d SSH connections, want 1", n)
	}

	// A blocked read on an in-flight conn ends with an error, not a hang,
	// when the server dies.
	errc := make(chan error, 1)
	go func() { _, err := conns[0].Read(make([]byte, 1)); errc <- err }()
	testnet.WaitBlocked(t, "streamconn.(*Conn).Read")
	s.Stop()
	select {
	case err := <-errc:
		if err == nil || err == io.EOF || !strings.Contains(err.Error(), "lost") {
			t.Fatalf("in-flight read after the server died: %v, want an error saying the connection was lost", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight read still blocked 10s after the server died")
	}
	if _, err := conns[1].Write([]byte("x")); err == nil {
		// The write may be buffered by the dying connection; a read must fail.
		conns[1].SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := conns[1].Read(make([]byte, 1)); err == nil {
			t.Fatal("a conn of the dead connection still reads")
		}
	}

	// While the server is down, dials fail quickly and clearly.
	if _, err := dial(h, echo); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("dial with sshd down: %v, want connection refused", err)
	}

	// Back up: concurrent dials share one reconnect.
	s.Start()
	before := len(fwd.Dials())
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial(h, echo)
			if err != nil {
				t.Errorf("dial after restart: %v", err)
				failed.Add(1)
				return
			}
			defer c.Close()
			testnet.EchoRoundTrip(t, c, "after")
		}()
	}
	wg.Wait()
	if n := len(fwd.Dials()) - before; failed.Load() == 0 && n != 1 {
		t.Fatalf("20 concurrent dials after the restart made %d SSH connections, want 1", n)
	}
}

func TestHandshakeHonoursTimeoutAndContext(t *testing.T) {
	// A server that accepts and never speaks: the SSH handshake hangs.
	silent := testnet.Listen(t, testnet.Silent)
	testpeers.NeedSSHD(t)
	key := filepath.Join(t.TempDir(), "k")
	testpeers.SSHKeygen(t, key, "")
	_, port, _ := net.SplitHostPort(silent)
	cfg := writeConfig(t, fmt.Sprintf("Host mute\n  HostName 127.0.0.1\n  Port %s\n  User root\n  IdentityFile %s\n", port, key))
	h := newHop(t, "ssh://mute", nil, ssh.WithConfigFile(cfg), envOf(), ssh.WithTimeout(300*time.Millisecond))
	start := time.Now()
	_, err := h.DialContext(context.Background(), "tcp", "127.0.0.1:1")
	if el := time.Since(start); err == nil || el > 2*time.Second {
		t.Fatalf("dial to a mute server: %v after %s, want an error after ~300ms", err, el)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !strings.Contains(err.Error(), "handshake") {
		t.Fatalf("error %q is not a timeout naming the handshake", err)
	}

	// With the default bound, the dial's context ends it: cancelled while
	// it waits on the handshake.
	h2 := newHop(t, "ssh://mute", nil, ssh.WithConfigFile(cfg), envOf(), ssh.WithTimeout(0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { _, err := h2.DialContext(ctx, "tcp", "127.0.0.1:1"); errc <- err }()
	testnet.WaitBlocked(t, "ssh.(*Hop).conn")
	testnet.WaitBlocked(t, "ssh.NewClientConn")
	start = time.Now()
	cancel()
	select {
	case err := <-errc:
		if el := time.Since(start); !errors.Is(err, context.Canceled) || el > 2*time.Second {
			t.Fatalf("cancelled dial: %v after %s", err, el)
		}
		if !strings.Contains(err.Error(), "handshake") {
			t.Errorf("cancelled dial: %q does not say it was in the handshake", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled dial still waits 10s later")
	}
}

// ProxyJump from ssh_config, and a chain of the Builder's own hops (as a
// dialer builds "via ssh://jump,ssh://inner": inner's ProxyJump is then
// ignored, as ssh -J overrides it), share the same two SSH connections.
func TestProxyJump(t *testing.T) {
	jump := testpeers.StartSSHD(t)
	inner := testpeers.StartSSHD(t)
	echo := testnet.Listen(t, testnet.Echo)
	kh := writeFile(t, "known_hosts", fmt.Sprintf("[127.0.0.1]:%d %s\n[127.0.0.1]:%d %s\n", jump.Port, jump.HostPub, inner.Port, inner.HostPub))
	cfg := writeConfig(t, fmt.Sprintf(`Host jump
  HostName 127.0.0.1
  Port %d
  IdentityFile %s
Host inner
  HostName 127.0.0.1
  Port %d
  IdentityFile %s
  ProxyJump root@jump
Host *
  User root
  UserKnownHostsFile %s
`, jump.Port, jump.Key, inner.Port, inner.Key, kh))
	fwd := &testnet.RecordingDialer{}
	b := ssh.NewBuilder(ssh.WithConfigFile(cfg), envOf())
	defer b.Close()
	build := func(rawURL string, forward hop.ContextDialer, chain string) hop.ContextDialer {
		t.Helper()
		u, err := hop.ParseURL(rawURL)
		if err != nil {
			t.Fatal(err)
		}
		d, err := b.Build(hop.Request{URL: u, Forward: forward, Chain: chain})
		if err != nil {
			t.Fatalf("Build(%s): %v", rawURL, err)
		}
		return d
	}
	viaInner := build("ssh://inner", fwd, "")              // ProxyJump root@jump
	viaJump := build("ssh://jump", fwd, "")                // the jump host itself
	chained := build("ssh://inner", viaJump, "ssh://jump") // jump, then inner
	for _, c := range []struct {
		name string
		d    hop.ContextDialer
	}{{"ProxyJump", viaInner}, {"jump", viaJump}, {"ProxyJump again", viaInner}, {"chain", chained}} {
		conn, err := dial(c.d, echo)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		testnet.EchoRoundTrip(t, conn, "jumped "+c.name)
		conn.Close()
	}
	// The only TCP connection this side made is the one to the jump host:
	// inner was reached through it, and both ways to inner share it.
	if got := fwd.Dials(); len(got) != 1 || got[0] != jump.Addr() {
		t.Fatalf("forward dials = %v, want one to %s", got, jump.Addr())
	}
	if n := strings.Count(inner.Log(), "Accepted publickey for root"); n != 1 {
		t.Fatalf("inner sshd shows %d logins, want 1 shared by both ways:\n%s", n, inner.Log())
	}
	// ssh.New closes the chain it made along with the hop.
	h := newHop(t, "ssh://inner", nil, ssh.WithConfigFile(cfg), envOf())
	conn, err := dial(h, echo)
	if err != nil {
		t.Fatalf("ssh.New with ProxyJump: %v", err)
	}
	testnet.EchoRoundTrip(t, conn, "New through the jump host")
	h.Close()
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("a conn still reads after its hop closed")
	}
	if _, err := dial(h, echo); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("dial after Close: %v, want net.ErrClosed", err)
	}
}

// A password in the hop URL never reaches an error nor the log.
func TestCredentialsMasked(t *testing.T) {
	var log bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &log}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	closed := testnet.ClosedAddr(t)
	h := newHop(t, "ssh://ops:s3cret@"+closed, nil, ssh.WithConfigFile(""), envOf(), ssh.WithTimeout(time.Second), ssh.WithLogger(logger))
	_, err := dial(h, "127.0.0.1:1")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "ops@") {
		t.Fatalf("dial error %v: want an error naming the user without the password", err)
	}
	mu.Lock()
	text := log.String()
	mu.Unlock()
	if !strings.Contains(text, "ssh connect failed") || strings.Contains(text, "s3cret") {
		t.Fatalf("log: want the failed connect without the password:\n%s", text)
	}
}

// freezable is a forward dialer whose connections can be cut silently, as
// a bastion whose network vanishes: once frozen, a connection reads and
// delivers nothing more and drops what is written, but reports no error.
// Connections made after freeze are not frozen: the network is back.
type freezable struct {
	d     net.Dialer
	mu    sync.Mutex
	conns []*frozenConn
}

func (f *freezable) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.once.Do(func() { close(c.frozen) })
	}
	f.conns = nil
}

func (f *freezable) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := f.d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	fc := &frozenConn{Conn: c, frozen: make(chan struct{}), closed: make(chan struct{})}
	f.mu.Lock()
	f.conns = append(f.conns, fc)
	f.mu.Unlock()
	return fc, nil
}

type frozenConn struct {
	net.Conn
	frozen    chan struct{}
	closed    chan struct{}
	once      sync.Once // closes frozen
	closeOnce sync.Once
}

func (c *frozenConn) Read(p []byte) (int, error) {
	select {
	case <-c.frozen:
		<-c.closed
		return 0, net.ErrClosed
	default:
	}
	n, err := c.Conn.Read(p)
	select {
	case <-c.frozen: // arrived after the network went: lost
		<-c.closed
		return 0, net.ErrClosed
	default:
	}
	return n, err
}

func (c *frozenConn) Write(p []byte) (int, error) {
	select {
	case <-c.frozen:
		return len(p), nil
	default:
		return c.Conn.Write(p)
	}
}

func (c *frozenConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// ServerAliveInterval and ServerAliveCountMax end a connection to a
// bastion that stops answering: an in-flight read fails saying so, and the
// next dial connects again.
func TestKeepaliveEndsASilentConnection(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := testnet.Listen(t, testnet.Echo)
	fwd := &freezable{}
	cfg := bastionConfig(t, s, trusted(t, s)+"  ServerAliveInterval 1\n  ServerAliveCountMax 2\n")
	h := newHop(t, "ssh://bastion", fwd, ssh.WithConfigFile(cfg), envOf())
	c, err := dial(h, echo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testnet.EchoRoundTrip(t, c, "before the silence")

	errc := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); errc <- err }()
	testnet.WaitBlocked(t, "streamconn.(*Conn).Read")
	start := time.Now()
	fwd.freeze()
	select {
	case err := <-errc:
		// Two keepalives a second apart go unanswered, the third tick ends
		// the connection: about 3 s.
		if err == nil || !strings.Contains(err.Error(), "2 keepalives in a row unanswered") {
			t.Fatalf("in-flight read on a silent connection: %v, want the keepalives named", err)
		}
		if el := time.Since(start); el > 8*time.Second {
			t.Fatalf("the silent connection ended after %s, want about 3s", el)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("in-flight read still blocked 15s after the bastion went silent")
	}

	// The network is back (a new connection is not frozen): the next dial
	// makes a new SSH connection.
	c2, err := dial(h, echo)
	if err != nil {
		t.Fatalf("dial after the keepalives ended the connection: %v", err)
	}
	defer c2.Close()
	testnet.EchoRoundTrip(t, c2, "after the silence")
	if n := strings.Count(s.Log(), "Accepted publickey for root"); n != 2 {
		t.Fatalf("%d logins, want 2 (one before, one after the silence):\n%s", n, s.Log())
	}
}
