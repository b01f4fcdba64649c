package dialer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/hop/ssh"
	"github.com/kafkadial/kafkadial/internal/testnet"
	"github.com/kafkadial/kafkadial/internal/testpeers"
)

func hopWriteFile(t testing.TB, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// env is a WithGetenv function over a fixed map: tests never read the
// machine's SSH_AUTH_SOCK or HOME.
func hopEnv(kv ...string) Option {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return WithGetenv(func(k string) string { return m[k] })
}

// sshBastionConfig is an ssh_config with Host bastion pointing at s.
func sshBastionConfig(s *testpeers.SSHD, extra string) string {
	return fmt.Sprintf("Host bastion\n  HostName 127.0.0.1\n  Port %d\n  User root\n%s", s.Port, extra)
}

// hopRoundTrip writes msg and reads it back from an echo server.
func hopRoundTrip(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatalf("SetDeadline: %v", err)
	}
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("echo returned %q, want %q", got, msg)
	}
	c.SetDeadline(time.Time{})
}

// hopCountingDialer records the addresses it dials.
type hopCountingDialer struct {
	mu    sync.Mutex
	addrs []string
	d     net.Dialer
}

func (c *hopCountingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c.mu.Lock()
	c.addrs = append(c.addrs, addr)
	c.mu.Unlock()
	return c.d.DialContext(ctx, network, addr)
}

func (c *hopCountingDialer) dials() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.addrs...)
}

func TestSSHHopEchoThroughAlias(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := echoServer(t, nil)
	cfg := hopWriteFile(t, "ssh_config", sshBastionConfig(s, fmt.Sprintf("  IdentityFile %s\n  UserKnownHostsFile %s\n", s.Key, s.KnownHosts(t))))
	d, err := New(WithSSHConfig(cfg), hopEnv(), WithRules("broker-{id}:9092 => "+echo+" via ssh://bastion"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rt, err := d.Route("broker-1:9092")
	if err != nil || rt.Via != "ssh://bastion" || rt.Target != echo {
		t.Fatalf("Route = %+v, %v", rt, err)
	}
	c, err := d.DialContext(context.Background(), "tcp", "broker-1:9092")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hopRoundTrip(t, c, "hello through the bastion")

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

func TestSSHConnDeadlines(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := echoServer(t, nil)
	cfg := hopWriteFile(t, "ssh_config", sshBastionConfig(s, fmt.Sprintf("  IdentityFile %s\n  UserKnownHostsFile %s\n", s.Key, s.KnownHosts(t))))
	d, err := New(WithSSHConfig(cfg), hopEnv(), WithRules("echo:7 => "+echo+" via ssh://bastion"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := d.Dial("tcp", "echo:7")
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
	hopRoundTrip(t, c, "still alive")

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
	hopRoundTrip(t, c, "and again")

	c.Close()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v, want net.ErrClosed", err)
	}
}

func TestSSHUnknownHostKeyRefused(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := echoServer(t, nil)
	kh := filepath.Join(t.TempDir(), "known_hosts") // does not exist
	cfg := hopWriteFile(t, "ssh_config", sshBastionConfig(s, fmt.Sprintf("  IdentityFile %s\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile none\n", s.Key, kh)))
	d, err := New(WithSSHConfig(cfg), hopEnv(), WithRules("echo:7 => "+echo+" via ssh://bastion"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = d.Dial("tcp", "echo:7")
	var hke *HostKeyError
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

func TestSSHChangedHostKeyRefused(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := echoServer(t, nil)
	other := testpeers.SSHKeygen(t, filepath.Join(t.TempDir(), "other"), "")
	kh := hopWriteFile(t, "known_hosts", fmt.Sprintf("# a comment\n[127.0.0.1]:%d %s\n", s.Port, other))
	cfg := hopWriteFile(t, "ssh_config", sshBastionConfig(s, fmt.Sprintf("  IdentityFile %s\n  UserKnownHostsFile %s\n  StrictHostKeyChecking accept-new\n", s.Key, kh)))
	d, err := New(WithSSHConfig(cfg), hopEnv(), WithRules("echo:7 => "+echo+" via ssh://bastion"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = d.Dial("tcp", "echo:7")
	var hke *HostKeyError
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

func TestSSHAcceptNewAndHashedKnownHosts(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := echoServer(t, nil)
	kh := filepath.Join(t.TempDir(), "sub", "known_hosts")
	cfg := hopWriteFile(t, "ssh_config", sshBastionConfig(s, fmt.Sprintf("  IdentityFile %s\n  UserKnownHostsFile %s\n", s.Key, kh)))
	rules := WithRules("echo:7 => " + echo + " via ssh://bastion")

	d, err := New(WithSSHConfig(cfg), hopEnv(), rules)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Dial("tcp", "echo:7"); err == nil {
		t.Fatal("StrictHostKeyChecking ask (the default) accepted an unknown key")
	}
	d.Close()

	acfg := hopWriteFile(t, "ssh_config", sshBastionConfig(s, fmt.Sprintf("  IdentityFile %s\n  UserKnownHostsFile %s\n  StrictHostKeyChecking accept-new\n", s.Key, kh)))
	d, err = New(WithSSHConfig(acfg), hopEnv(), rules)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Dial("tcp", "echo:7")
	if err != nil {
		t.Fatalf("accept-new: %v", err)
	}
	hopRoundTrip(t, c, "accepted")
	c.Close()
	d.Close()

	// OpenSSH itself reads the line kafkadial wrote...
	out, err := exec.Command("ssh-keygen", "-F", fmt.Sprintf("[127.0.0.1]:%d", s.Port), "-f", kh).CombinedOutput()
	if err != nil || !strings.Contains(string(out), strings.Fields(s.HostPub)[1]) {
		t.Fatalf("ssh-sshKeygen -F does not find the accepted key: %v\n%s", err, out)
	}
	// ...and after OpenSSH hashes the file, strict checking still passes.
	if out, err := exec.Command("ssh-keygen", "-H", "-f", kh).CombinedOutput(); err != nil {
		t.Fatalf("ssh-sshKeygen -H: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(kh)
	if !strings.HasPrefix(string(b), "|1|") {
		t.Fatalf("known_hosts is not hashed:\n%s", b)
	}
	d, err = New(WithSSHConfig(cfg), hopEnv(), rules)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err = d.Dial("tcp", "echo:7")
	if err != nil {
		t.Fatalf("hashed known_hosts: %v", err)
	}
	hopRoundTrip(t, c, "hashed")
	c.Close()
}

// sshStartAgent runs a real ssh-agent and loads keys into it.
func sshStartAgent(t *testing.T, keys ...string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
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

func TestSSHAuthentication(t *testing.T) {
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
		t.Fatalf("ssh-sshKeygen -p: %v\n%s", err, out)
	}
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	homePub := testpeers.SSHKeygen(t, filepath.Join(home, ".ssh", "id_ed25519"), "")
	emptyHome := t.TempDir()
	stranger := filepath.Join(keys, "stranger")
	testpeers.SSHKeygen(t, stranger, "")

	s := testpeers.StartSSHD(t, agentPub, encPub, homePub)
	echo := echoServer(t, nil)
	kh := s.KnownHosts(t)
	rules := WithRules("echo:7 => " + echo + " via ssh://bastion")

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
				e = append(e, "SSH_AUTH_SOCK", sshStartAgent(t, tc.agent...))
			}
			cfg := hopWriteFile(t, "ssh_config", sshBastionConfig(s, tc.extra+"  UserKnownHostsFile "+kh+"\n"))
			d, err := New(WithSSHConfig(cfg), hopEnv(e...), rules, WithTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			c, err := d.Dial("tcp", "echo:7")
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				hopRoundTrip(t, c, tc.name)
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

func TestSSHReconnectAfterServerRestart(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := echoServer(t, nil)
	cfg := hopWriteFile(t, "ssh_config", sshBastionConfig(s, fmt.Sprintf("  IdentityFile %s\n  UserKnownHostsFile %s\n", s.Key, s.KnownHosts(t))))
	fwd := &hopCountingDialer{}
	d, err := New(WithSSHConfig(cfg), hopEnv(), WithForward(fwd), WithRules("echo:7 => "+echo+" via ssh://bastion"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	// Many conns share one SSH connection.
	var conns []net.Conn
	for i := 0; i < 5; i++ {
		c, err := d.Dial("tcp", "echo:7")
		if err != nil {
			t.Fatal(err)
		}
		hopRoundTrip(t, c, "before")
		conns = append(conns, c)
	}
	if n := len(fwd.dials()); n != 1 {
		t.Fatalf("5 dials made %d SSH connections, want 1", n)
	}

	// A blocked read on an in-flight conn ends with an error, not a hang,
	// when the server dies.
	errc := make(chan error, 1)
	go func() { _, err := conns[0].Read(make([]byte, 1)); errc <- err }()
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
	if _, err := d.Dial("tcp", "echo:7"); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("dial with sshd down: %v, want connection refused", err)
	}

	// Back up: concurrent dials share one reconnect.
	s.Start()
	before := len(fwd.dials())
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.Dial("tcp", "echo:7")
			if err != nil {
				t.Errorf("dial after restart: %v", err)
				failed.Add(1)
				return
			}
			defer c.Close()
			hopRoundTrip(t, c, "after")
		}()
	}
	wg.Wait()
	if n := len(fwd.dials()) - before; failed.Load() == 0 && n != 1 {
		t.Fatalf("20 concurrent dials after the restart made %d SSH connections, want 1", n)
	}
}

func TestSSHHandshakeHonoursTimeoutAndContext(t *testing.T) {
	// A server that accepts and never speaks: the SSH handshake hangs.
	silent := testnet.Listen(t, testnet.Silent)
	key := filepath.Join(t.TempDir(), "k")
	testpeers.NeedSSHD(t)
	testpeers.SSHKeygen(t, key, "")
	cfg := hopWriteFile(t, "ssh_config", fmt.Sprintf("Host mute\n  HostName 127.0.0.1\n  Port %s\n  User root\n  IdentityFile %s\n", silent[strings.LastIndexByte(silent, ':')+1:], key))
	d, err := New(WithSSHConfig(cfg), hopEnv(), WithTimeout(300*time.Millisecond), WithRules("x:1 => 127.0.0.1:1 via ssh://mute"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	start := time.Now()
	_, err = d.Dial("tcp", "x:1")
	if el := time.Since(start); err == nil || el > 2*time.Second {
		t.Fatalf("dial to a mute server: %v after %s, want an error after ~300ms", err, el)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !strings.Contains(err.Error(), "handshake") {
		t.Fatalf("error %q is not a timeout naming the handshake", err)
	}

	d2, err := New(WithSSHConfig(cfg), hopEnv(), WithTimeout(0), WithRules("x:1 => 127.0.0.1:1 via ssh://mute"))
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	_, err = d2.DialContext(ctx, "tcp", "x:1")
	if el := time.Since(start); !errors.Is(err, context.Canceled) || el > 2*time.Second {
		t.Fatalf("cancelled dial: %v after %s", err, el)
	}
}

func TestSSHProxyJump(t *testing.T) {
	jump := testpeers.StartSSHD(t)
	inner := testpeers.StartSSHD(t)
	echo := echoServer(t, nil)
	kh := hopWriteFile(t, "known_hosts", fmt.Sprintf("[127.0.0.1]:%d %s\n[127.0.0.1]:%d %s\n", jump.Port, jump.HostPub, inner.Port, inner.HostPub))
	cfg := hopWriteFile(t, "ssh_config", fmt.Sprintf(`Host jump
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
	fwd := &hopCountingDialer{}
	// c:1 names the chain itself: inner's ProxyJump is then ignored, as
	// ssh -J overrides it, and the connections are the same two.
	d, err := New(WithSSHConfig(cfg), hopEnv(), WithForward(fwd), WithRules("a:1 => "+echo+" via ssh://inner\nb:1 => "+echo+" via ssh://jump\n"+
		"c:1 => "+echo+" via ssh://jump,ssh://inner"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if rt, _ := d.Route("c:1"); rt.Via != "ssh://jump,ssh://inner" {
		t.Fatalf("Route(c:1).Via = %q", rt.Via)
	}
	for _, a := range []string{"a:1", "b:1", "a:1", "c:1"} {
		c, err := d.Dial("tcp", a)
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		hopRoundTrip(t, c, "jumped "+a)
		c.Close()
	}
	// The only TCP connection this side made is the one to the jump host:
	// inner was reached through it, and both rules share it.
	if got := fwd.dials(); len(got) != 1 || got[0] != jump.Addr() {
		t.Fatalf("forward dials = %v, want one to %s", got, jump.Addr())
	}
	if n := strings.Count(inner.Log(), "Accepted publickey for root"); n != 1 {
		t.Fatalf("inner sshd shows %d logins, want 1 shared by the rules:\n%s", n, inner.Log())
	}
}

func TestSSHCredentialsMasked(t *testing.T) {
	d, err := New(WithSSHConfig(""), hopEnv(), WithTimeout(time.Second),
		WithRules("x:1 => 127.0.0.1:1 via ssh://ops:s3cret@127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rt, _ := d.Route("x:1")
	if rt.Via != "ssh://ops:***@127.0.0.1:1" {
		t.Fatalf("Route.Via = %q", rt.Via)
	}
	_, err = d.Dial("tcp", "x:1")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("dial error %v: want an error without the password", err)
	}
}

// A Builder the caller makes is the caller's: dialer.Check and two
// dialers can use one, no dialer closes its hops, and only the Builder's
// own Close ends them (as an http.Client never closes a shared
// Transport).
func TestSSHBuilderSharedByCheckAndDialers(t *testing.T) {
	s := testpeers.StartSSHD(t)
	echo := echoServer(t, nil)
	cfg := hopWriteFile(t, "ssh_config", sshBastionConfig(s, fmt.Sprintf("  IdentityFile %s\n  UserKnownHostsFile %s\n", s.Key, s.KnownHosts(t))))
	home := t.TempDir()
	b := ssh.NewBuilder(ssh.WithConfigFile(cfg), ssh.WithGetenv(func(k string) string { return map[string]string{"HOME": home}[k] }))
	defer b.Close()
	opts := []Option{WithScheme("ssh", b), WithRules("echo:7 => " + echo + " via ssh://bastion")}
	dial := func(d *Dialer) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return d.DialContext(ctx, "tcp", "echo:7")
	}

	fs, err := Check(opts...)
	if err != nil || len(fs) != 0 {
		t.Fatalf("Check: %v %v", fs, err)
	}
	d1, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := dial(d1)
	if err != nil {
		t.Fatalf("a dial after Check: %v", err)
	}
	hopRoundTrip(t, c1, "after Check")

	d2, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := dial(d2)
	if err != nil {
		t.Fatal(err)
	}
	// Closing one dialer leaves the other's hops, and both conns, alone.
	d1.Close()
	hopRoundTrip(t, c2, "d2 after d1.Close")
	hopRoundTrip(t, c1, "d1's conn after d1.Close")
	c3, err := dial(d2)
	if err != nil {
		t.Fatalf("a dial of d2 after d1.Close: %v", err)
	}
	hopRoundTrip(t, c3, "a new conn of d2")
	d2.Close()
	hopRoundTrip(t, c3, "d2's conn after d2.Close")

	// The Builder's own Close ends its connections; a dialer still using
	// it then fails with an error matching net.ErrClosed.
	d3, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer d3.Close()
	b.Close()
	if _, err := dial(d3); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("a dial through a closed Builder's hop: %v, want net.ErrClosed", err)
	}
	if _, err := New(opts...); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("New with a closed Builder: %v, want net.ErrClosed", err)
	}
}
