package ssh_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kevinburke/ssh_config"

	"github.com/kafkadial/kafkadial/hop"
	"github.com/kafkadial/kafkadial/hop/ssh"
	"github.com/kafkadial/kafkadial/internal/testnet"
)

// silentConfig writes an ssh_config whose host "silent" is a TCP listener
// that accepts and never speaks, so a connect hangs in the handshake until
// a bound ends it. connectTimeout is ssh_config's ConnectTimeout ("" for
// none).
func silentConfig(t *testing.T, connectTimeout string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(testnet.Listen(t, testnet.Silent))
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, nil, 0o600)
	text := fmt.Sprintf("Host silent\n  HostName %s\n  Port %s\n  User u\n  UserKnownHostsFile %s\n  IdentityAgent none\n  IdentitiesOnly yes\n", host, port, kh)
	if connectTimeout != "" {
		text += "  ConnectTimeout " + connectTimeout + "\n"
	}
	cfg := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func noEnv(string) string { return "" }

// timedDial dials through the hop to the silent server with a context of
// ctxTimeout and returns how long the dial took and its error.
func timedDial(t *testing.T, cfg string, ctxTimeout time.Duration, opts ...ssh.Option) (time.Duration, error) {
	t.Helper()
	opts = append([]ssh.Option{ssh.WithConfigFile(cfg), ssh.WithGetenv(noEnv)}, opts...)
	h, err := ssh.New("ssh://u:pw@silent", &net.Dialer{}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ctxTimeout)
	defer cancel()
	start := time.Now()
	_, err = h.DialContext(ctx, "tcp", "127.0.0.1:9092")
	return time.Since(start), err
}

// WithTimeout is an upper bound on the connect, whichever of it and the
// dial's context ends first; ssh_config's ConnectTimeout may only shorten
// it.
func TestTimeoutBoundsConnect(t *testing.T) {
	const slack = 3 * time.Second // a loaded CI machine
	for _, c := range []struct {
		name           string
		connectTimeout string // ssh_config
		withTimeout    time.Duration
		ctxTimeout     time.Duration
		want           time.Duration
	}{
		{"WithTimeout shorter than ConnectTimeout", "20", time.Second, 30 * time.Second, time.Second},
		{"ConnectTimeout shorter than WithTimeout", "1", 20 * time.Second, 30 * time.Second, time.Second},
		{"WithTimeout alone", "", time.Second, 30 * time.Second, time.Second},
		{"the context shorter than both", "20", 20 * time.Second, time.Second, time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			took, err := timedDial(t, silentConfig(t, c.connectTimeout), c.ctxTimeout, ssh.WithTimeout(c.withTimeout))
			if err == nil {
				t.Fatal("a dial through a silent server succeeded")
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v, want one matching context.DeadlineExceeded", err)
			}
			if took < c.want-100*time.Millisecond || took > c.want+slack {
				t.Errorf("the dial took %s, want about %s: %v", took, c.want, err)
			}
		})
	}
}

// The option contract: nil options are ignored, a bad value is an error
// naming the option, WithLogger(nil) and WithGetenv(nil) take the
// defaults.
func TestOptions(t *testing.T) {
	cfg := silentConfig(t, "")
	h, err := ssh.New("ssh://u:pw@silent", &net.Dialer{}, nil, ssh.WithConfigFile(cfg), ssh.WithLogger(nil), ssh.WithGetenv(nil), nil)
	if err != nil {
		t.Fatalf("nil options: %v", err)
	}
	h.Close()
	_, err = ssh.New("ssh://u:pw@silent", &net.Dialer{}, ssh.WithTimeout(-time.Second), ssh.WithConfigFile(cfg))
	if err == nil || err.Error() != "ssh: WithTimeout: negative duration -1s" {
		t.Fatalf("WithTimeout(-1s): %v", err)
	}
	u, _ := hop.ParseURL("ssh://u:pw@silent")
	b := ssh.NewBuilder(ssh.WithConfigFile(cfg), ssh.WithTimeout(-time.Second))
	defer b.Close()
	if _, err := b.Build(hop.Request{URL: u, Forward: &net.Dialer{}}); err == nil || !strings.Contains(err.Error(), "WithTimeout") {
		t.Fatalf("Build with WithTimeout(-1s): %v", err)
	}
	// Order does not matter: the logger given before or after the rest.
	l := slog.New(slog.DiscardHandler)
	for _, opts := range [][]ssh.Option{
		{ssh.WithLogger(l), ssh.WithConfigFile(cfg), ssh.WithTimeout(time.Second)},
		{ssh.WithTimeout(time.Second), ssh.WithConfigFile(cfg), ssh.WithLogger(l)},
	} {
		h, err := ssh.New("ssh://u:pw@silent", &net.Dialer{}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
	}
}

// Bad options, and one given twice with different values, are refused by
// New and by a Builder's Build with an error naming the option, whatever
// their order; the same value twice is no conflict.
func TestOptionErrorsNameTheOption(t *testing.T) {
	cfg := silentConfig(t, "")
	l := slog.New(slog.DiscardHandler)
	u, _ := hop.ParseURL("ssh://u:pw@silent")
	for _, c := range []struct {
		opts []ssh.Option
		want string
	}{
		{[]ssh.Option{ssh.WithTimeout(-time.Second)}, "ssh: WithTimeout: negative duration -1s"},
		{[]ssh.Option{ssh.WithTimeout(time.Second), ssh.WithTimeout(2 * time.Second)}, "ssh: WithTimeout given twice with different values: options apply in any order, so give it once"},
		{[]ssh.Option{ssh.WithTimeout(-time.Second), ssh.WithTimeout(time.Second)}, "ssh: WithTimeout given twice with different values"},
		{[]ssh.Option{ssh.WithConfigFile(cfg), ssh.WithConfigFile("")}, "ssh: WithConfigFile given twice with different values"},
		{[]ssh.Option{ssh.WithGetenv(noEnv), ssh.WithGetenv(noEnv)}, "ssh: WithGetenv given twice with different values"},
		{[]ssh.Option{ssh.WithGetenv(nil), ssh.WithGetenv(noEnv)}, "ssh: WithGetenv given twice with different values"},
		{[]ssh.Option{ssh.WithLogger(nil), ssh.WithLogger(l)}, "ssh: WithLogger given twice with different values"},
		{[]ssh.Option{ssh.WithLogger(l), ssh.WithLogger(slog.Default())}, "ssh: WithLogger given twice with different values"},
	} {
		for _, opts := range [][]ssh.Option{c.opts, reversed(c.opts)} {
			opts = append(opts, ssh.WithConfigFile(cfg))
			if h, err := ssh.New("ssh://u:pw@silent", &net.Dialer{}, opts...); err == nil || !strings.HasPrefix(err.Error(), c.want) {
				if err == nil {
					h.Close()
				}
				t.Errorf("New: error %v, want one starting %q", err, c.want)
			}
			b := ssh.NewBuilder(opts...)
			if _, err := b.Build(hop.Request{URL: u, Forward: &net.Dialer{}}); err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("Build: error %v, want one starting %q", err, c.want)
			}
			b.Close()
		}
	}
	// The same value twice is no conflict.
	h, err := ssh.New("ssh://u:pw@silent", &net.Dialer{}, ssh.WithTimeout(time.Second), ssh.WithConfigFile(cfg),
		ssh.WithLogger(l), ssh.WithTimeout(time.Second), ssh.WithConfigFile(cfg), ssh.WithLogger(l), ssh.WithLogger(l))
	if err != nil {
		t.Fatalf("the same values twice: %v", err)
	}
	h.Close()
}

func reversed(opts []ssh.Option) []ssh.Option {
	out := make([]ssh.Option, len(opts))
	for i, o := range opts {
		out[len(opts)-1-i] = o
	}
	return out
}

// Errors reading ssh_config keep their cause for errors.Is and errors.As.
func TestConfigErrorsKeepCause(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nosuch")
	_, err := ssh.New("ssh://u@h", &net.Dialer{}, ssh.WithConfigFile(missing))
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Path != missing {
		t.Fatalf("a missing config file: %v", err)
	}
	// An Include that includes itself: ssh_config's ErrDepthExceeded,
	// reached when the host's settings are read.
	dir := t.TempDir()
	loop := filepath.Join(dir, "loop")
	os.WriteFile(loop, []byte("Include "+loop+"\n"), 0o600)
	_, err = ssh.New("ssh://u@h", &net.Dialer{}, ssh.WithConfigFile(loop), ssh.WithGetenv(noEnv))
	if !errors.Is(err, ssh_config.ErrDepthExceeded) || strings.ContainsAny(err.Error(), "\n\r") {
		t.Fatalf("a looping Include: %q", err)
	}
}

// ErrClosed matches net.ErrClosed: a closed Builder refuses to build, and
// a dial through a closed hop fails with it.
func TestErrClosed(t *testing.T) {
	if !errors.Is(ssh.ErrClosed, net.ErrClosed) {
		t.Fatal("ssh.ErrClosed does not match net.ErrClosed")
	}
	cfg := silentConfig(t, "")
	u, _ := hop.ParseURL("ssh://u:pw@silent")
	b := ssh.NewBuilder(ssh.WithConfigFile(cfg), ssh.WithGetenv(noEnv))
	d, err := b.Build(hop.Request{URL: u, Forward: &net.Dialer{}})
	if err != nil {
		t.Fatal(err)
	}
	d.(*ssh.Hop).Close()
	// A hop closed by someone else is not handed out again.
	d2, err := b.Build(hop.Request{URL: u, Forward: &net.Dialer{}})
	if err != nil || d2 == d {
		t.Fatalf("Build after its hop was closed: %p (the closed one is %p), %v", d2, d, err)
	}
	if _, err := d.DialContext(context.Background(), "tcp", "127.0.0.1:1"); !errors.Is(err, ssh.ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("dial through a closed hop: %v", err)
	}
	b.Close()
	if _, err := b.Build(hop.Request{URL: u, Forward: &net.Dialer{}}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Build after Close: %v", err)
	}
	if _, err := d2.DialContext(context.Background(), "tcp", "127.0.0.1:1"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("dial through a hop of a closed Builder: %v", err)
	}
}
