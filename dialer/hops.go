package dialer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/kafkadial/kafkadial/hop"
	"github.com/kafkadial/kafkadial/hop/httpconnect"
	"github.com/kafkadial/kafkadial/hop/socks5"
	"github.com/kafkadial/kafkadial/hop/ssh"
	"github.com/kafkadial/kafkadial/rules"
)

// WithScheme makes rules of this dialer able to name hops by URL with the
// given scheme ("via scheme://..."), built by b. It adds to or replaces the
// schemes every dialer has: ssh (package hop/ssh, with the ssh_config of
// WithSSHConfig), socks5 and socks5h (hop/socks5), and http (hop/httpconnect).
// Schemes are per dialer; there is no global registry.
//
// b belongs to the caller, as an http.Transport given to an http.Client
// does: the dialer never closes b nor the hops b builds (Dialer.Close
// closes only the ssh Builder it made itself for ssh:// when no WithScheme
// gave one). A builder that holds connections closes them in a Close of its
// own, which the caller calls once every dialer using it is done; so one
// builder can serve Check and New, or several dialers, at once. Default:
// the schemes above. One scheme takes one builder: giving a scheme twice
// with different builders is an error, whatever the order.
func WithScheme(scheme string, b hop.Builder) Option {
	return func(c *config) error {
		if !isScheme(scheme) {
			return fmt.Errorf("kafkadial: WithScheme: bad hop scheme %q: use a letter, then letters, digits, '+', '-' and '.'", scheme)
		}
		if b == nil {
			return fmt.Errorf("kafkadial: WithScheme(%q): nil builder", scheme)
		}
		// One builder per scheme: with two, the order of the options
		// would decide. Schemes differ only in case ("SSH" is "ssh").
		if err := c.setOnce(fmt.Sprintf("WithScheme(%q)", strings.ToLower(scheme)), b); err != nil {
			return err
		}
		if c.schemes == nil {
			c.schemes = map[string]hop.Builder{}
		}
		c.schemes[strings.ToLower(scheme)] = b
		return nil
	}
}

// WithSSHConfig makes ssh:// hops read the OpenSSH client configuration in
// path instead of the default ~/.ssh/config and /etc/ssh/ssh_config, as
// `ssh -F path` does. An empty path reads no file.
//
// SSH hops honour, for the host alias written in the rule: HostName, User,
// Port, IdentityFile, IdentitiesOnly, IdentityAgent, ProxyJump, ProxyCommand,
// UserKnownHostsFile, GlobalKnownHostsFile, StrictHostKeyChecking (yes, ask,
// accept-new, no), HostKeyAlias, ConnectTimeout, ServerAliveInterval,
// ServerAliveCountMax and Ciphers. HOME and SSH_AUTH_SOCK are read through
// the function given to WithGetenv, when there is one. See package
// github.com/kafkadial/kafkadial/hop/ssh. Default: ~/.ssh/config and
// /etc/ssh/ssh_config. Given twice, it must name the same path.
func WithSSHConfig(path string) Option {
	return func(c *config) error {
		if err := c.setOnce("WithSSHConfig", path); err != nil {
			return err
		}
		c.sshConfigSet, c.sshConfigPath = true, path
		return nil
	}
}

func isScheme(s string) bool {
	if s == "" || !('a' <= s[0]|0x20 && s[0]|0x20 <= 'z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// chains is the hop wiring of a dialer: for each rule, by its position,
// the dialer that reaches its target and the via list as Route.Via shows
// it (zero for a rule without hops).
type chains struct {
	byIndex []chain
	closers []io.Closer // the builders the dialer made itself, in order
}

type chain struct {
	dialer ContextDialer
	shown  string // credentials masked
}

func (cs *chains) Close() error {
	var errs []error
	for i := len(cs.closers) - 1; i >= 0; i-- {
		errs = append(errs, cs.closers[i].Close())
	}
	cs.closers = nil
	return errors.Join(errs...)
}

// viaKey names a chain of hops as written: rules with the same chain share
// its dialers.
func viaKey(hops []rules.Hop) string {
	names := make([]string, len(hops))
	for i, h := range hops {
		names[i] = h.Text
	}
	return strings.Join(names, ",")
}

// buildChains resolves every rule's via list to a dialer, building each
// distinct chain (and each distinct prefix of one) once. A hop that cannot
// be built is passed to fail with its rule; buildChains stops when fail
// returns false, and otherwise skips the rest of that rule's chain.
func buildChains(c *config, rs []*rules.Rule, forward ContextDialer, fail func(*rules.Rule, rules.Hop, error) bool) *chains {
	cs := &chains{byIndex: make([]chain, len(rs))}
	schemes := map[string]hop.Builder{
		"socks5":  socks5.Builder,
		"socks5h": socks5.Builder,
		"http":    httpconnect.Builder,
	}
	var sshb *ssh.Builder
	for k, b := range c.schemes {
		schemes[k] = b
	}
	type built struct {
		d   ContextDialer
		err error
	}
	prefixes := map[string]built{}
	for ri, r := range rs {
		via := r.Via()
		if len(via) == 0 {
			continue
		}
		d, ok := forward, true
		hops := make([]ContextDialer, len(via))
		for i, h := range via {
			key := viaKey(via[:i+1])
			b, seen := prefixes[key]
			if !seen {
				if b.d, b.err = namedHop(c, h.Text, i); b.err == nil && b.d == nil {
					var u *url.URL
					u, b.err = parseHopURL(h.Text)
					if b.err == nil {
						scheme := strings.ToLower(u.Scheme)
						builder := schemes[scheme]
						if builder == nil && scheme == "ssh" {
							sshb = ssh.NewBuilder(c.sshOptions()...)
							cs.closers = append(cs.closers, sshb)
							builder, schemes["ssh"] = sshb, sshb
						}
						if builder == nil {
							b.err = fmt.Errorf("unknown hop scheme %q in %s: use %s, or register it with dialer.WithScheme", u.Scheme, hop.Mask(h.Text), knownSchemes(schemes))
						} else {
							// The hop is the builder's: the dialer
							// closes only the builder it made (sshb).
							b.d, b.err = builder.Build(hop.Request{URL: u, Forward: d, Chain: viaKey(via[:i])})
						}
					}
				}
				prefixes[key] = b
			}
			if b.err != nil {
				ok = false
				if !fail(r, h, b.err) {
					return cs
				}
				break
			}
			d = b.d
			hops[i] = b.d
		}
		if ok {
			shown := make([]string, len(via))
			for i, h := range via {
				shown[i] = hop.Mask(h.Text)
				if ds, ok := hops[i].(hop.Describer); ok {
					if desc := ds.Describe(); desc != "" && desc != shown[i] {
						shown[i] += " (" + hop.Mask(desc) + ")"
					}
				}
			}
			cs.byIndex[ri] = chain{dialer: d, shown: strings.Join(shown, ",")}
		}
	}
	return cs
}

// namedHop returns the hop registered with WithVia under name, nil for a
// URL, or an error.
func namedHop(c *config, name string, pos int) (ContextDialer, error) {
	if strings.Contains(name, "://") {
		return nil, nil
	}
	h, ok := c.hops[name]
	if !ok {
		return nil, fmt.Errorf("unknown hop %q: register it with dialer.WithVia", name)
	}
	if pos > 0 {
		return nil, fmt.Errorf("hop %q was built in code and dials on its own, so it can only be the first hop of a chain", name)
	}
	return h, nil
}

// parseHopURL parses a hop URL; url.Parse's errors quote the whole URL,
// credentials included, so they are not passed on.
func parseHopURL(text string) (*url.URL, error) {
	u, err := url.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("bad hop URL %s", hop.Mask(text))
	}
	return u, nil
}

func knownSchemes(m map[string]hop.Builder) string {
	names := []string{"ssh"}
	for k := range m {
		if k != "ssh" {
			names = append(names, k)
		}
	}
	slices.Sort(names[1:])
	return strings.Join(names, ", ")
}

// errCheckNoDial is what hops built by Check get when they try to connect.
var errCheckNoDial = errors.New("kafkadial: Check makes no connections")

type refuseDialer struct{}

func (refuseDialer) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, errCheckNoDial
}
