package dialer

import (
	"context"
	"errors"
	"fmt"
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

// The dialer's options reach the SSH hops it builds for ssh:// rules:
// WithSSHConfig (the Host alias), WithGetenv (HOME, where the default
// identity is) and WithForward (the TCP connection to the bastion); the
// rule's Route shows the hop. The hop's own behaviour is tested in
// package hop/ssh.
func TestSSHHopWiring(t *testing.T) {
	home := t.TempDir()
	testpeers.NeedSSHD(t)
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	homePub := testpeers.SSHKeygen(t, filepath.Join(home, ".ssh", "id_ed25519"), "")
	s := testpeers.StartSSHD(t, homePub)
	echo := echoServer(t, nil)
	cfg := hopWriteFile(t, "ssh_config", sshBastionConfig(s, fmt.Sprintf("  UserKnownHostsFile %s\n  IdentitiesOnly yes\n", s.KnownHosts(t))))
	fwd := &testnet.RecordingDialer{}
	d, err := New(WithSSHConfig(cfg), hopEnv("HOME", home), WithForward(fwd), WithRules("broker-{id}:9092 => "+echo+" via ssh://bastion"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rt, err := d.Route("broker-1:9092")
	if err != nil || rt.Via != "ssh://bastion" || rt.Target != echo {
		t.Fatalf("Route = %+v, %v", rt, err)
	}
	for _, a := range []string{"broker-1:9092", "broker-2:9092"} {
		c, err := d.DialContext(context.Background(), "tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		testnet.EchoRoundTrip(t, c, "hello through the bastion")
		c.Close()
	}
	if got := fwd.Dials(); len(got) != 1 || got[0] != s.Addr() {
		t.Fatalf("forward dials = %v, want one to %s", got, s.Addr())
	}
	if !strings.Contains(s.Log(), "Accepted publickey for root") {
		t.Fatalf("sshd log shows no login:\n%s", s.Log())
	}
}

// The dialer's WithTimeout and the dial's context reach an SSH hop stuck in
// its handshake (the hop's own bounds are tested in package hop/ssh).
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
	defer cancel()
	errc := make(chan error, 1)
	go func() { _, err := d2.DialContext(ctx, "tcp", "x:1"); errc <- err }()
	testnet.WaitBlocked(t, "ssh.NewClientConn")
	start = time.Now()
	cancel()
	select {
	case err := <-errc:
		if el := time.Since(start); !errors.Is(err, context.Canceled) || el > 2*time.Second {
			t.Fatalf("cancelled dial: %v after %s", err, el)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled dial still waits 10s later")
	}
}

// A rule naming a chain of ssh:// hops reaches inner through the jump
// host's hop, which the dialer passes as inner's forward dialer: the chain
// and a rule relying on inner's ProxyJump share the same two SSH
// connections, and Route.Via shows the chain. (ProxyJump itself is tested
// in package hop/ssh.)
func TestSSHChainWiring(t *testing.T) {
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
	fwd := &testnet.RecordingDialer{}
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
		testnet.EchoRoundTrip(t, c, "jumped "+a)
		c.Close()
	}
	// The only TCP connection this side made is the one to the jump host:
	// inner was reached through it, and both rules share it.
	if got := fwd.Dials(); len(got) != 1 || got[0] != jump.Addr() {
		t.Fatalf("forward dials = %v, want one to %s", got, jump.Addr())
	}
	if n := strings.Count(inner.Log(), "Accepted publickey for root"); n != 1 {
		t.Fatalf("inner sshd shows %d logins, want 1 shared by the rules:\n%s", n, inner.Log())
	}
}

// Route.Via and the errors of the dialer's dials mask the password of an
// ssh:// hop URL (the hop's own errors and log: package hop/ssh).
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
	testnet.EchoRoundTrip(t, c1, "after Check")

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
	testnet.EchoRoundTrip(t, c2, "d2 after d1.Close")
	testnet.EchoRoundTrip(t, c1, "d1's conn after d1.Close")
	c3, err := dial(d2)
	if err != nil {
		t.Fatalf("a dial of d2 after d1.Close: %v", err)
	}
	testnet.EchoRoundTrip(t, c3, "a new conn of d2")
	d2.Close()
	testnet.EchoRoundTrip(t, c3, "d2's conn after d2.Close")

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
