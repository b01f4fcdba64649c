package ssh

import (
	"net/url"
	"strings"
	"testing"

	"github.com/kevinburke/ssh_config"

	"github.com/kafkadial/kafkadial/internal/netx"
)

// FuzzSSHEndpoint feeds ssh_config text and a hop URL through the endpoint
// resolution (ProxyJump lists, % tokens, ${VAR}, numbers): errors are fine,
// panics are not, and a resolved endpoint is usable.
func FuzzSSHEndpoint(f *testing.F) {
	f.Add("Host b\n  HostName 10.0.0.1\n  Port 2222\n  User ops\n  IdentityFile ~/.ssh/%r@%h_%p\n", "ssh://b")
	f.Add("Host *\n  ProxyJump a@j1:22,ssh://u@j2:2200\n", "ssh://x@target")
	f.Add("Host j\n  ProxyJump j\n", "ssh://j")
	f.Add("Host b\n  IdentityFile ${HOME}/k\n  UserKnownHostsFile none\n  StrictHostKeyChecking accept-new\n", "ssh://b:22")
	f.Add("Host b\n  ServerAliveInterval 0\n  ServerAliveCountMax 9\n  ConnectTimeout 3\n  Ciphers aes128-gcm@openssh.com\n", "ssh://u:p@b")
	f.Add("Host b\n  HostName %h.example.com\n  IdentityFile %z\n", "ssh://b")
	f.Add("Host b\n  ProxyJump ,\n  ProxyCommand nc %h %p\n", "ssh://b")
	f.Fuzz(func(t *testing.T, conf, hop string) {
		cfg, err := ssh_config.DecodeBytes([]byte(conf))
		if err != nil {
			return
		}
		u, err := url.Parse(hop)
		if err != nil || u.Hostname() == "" {
			return
		}
		s := &sshSettings{files: []*ssh_config.Config{cfg}, names: []string{"fuzz"}, home: "/home/u", local: "u",
			getenv: func(k string) string { return map[string]string{"HOME": "/home/u"}[k] }}
		e, err := s.endpoint(u, true)
		if err != nil {
			if strings.ContainsFunc(err.Error(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("error with a control byte: %q", err)
			}
			return
		}
		if e.host == "" || e.port == "" || e.user == "" {
			t.Fatalf("resolved endpoint %+v lacks host, port or user", e)
		}
		if len(e.jumps) > maxProxyJumpDepth*4 {
			t.Fatalf("%d jumps", len(e.jumps))
		}
		_ = e.String()
	})
}

func FuzzParseJump(f *testing.F) {
	for _, s := range []string{"j", "u@j:22", "ssh://u@j:2200", "[::1]:22", "u@[fe80::1]", "a@b@c:1", ":22", "ssh://", "j:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, host, port, err := parseJump(s)
		if err != nil {
			return
		}
		if host == "" {
			t.Fatalf("parseJump(%q) gave no host", s)
		}
		if port != "" {
			if _, err := netx.ParsePort(port); err != nil {
				t.Fatalf("parseJump(%q) gave bad port %q", s, port)
			}
		}
	})
}
