// Package hop defines how a dialer reaches a target through a proxy or a
// bastion: a hop is a plain [ContextDialer], and a [Builder] makes hops from
// the URLs that rules name with "via scheme://...".
//
//	// A SOCKS5 hop used on its own, as any ContextDialer:
//	h, err := socks5.New("socks5h://127.0.0.1:1080", &net.Dialer{})
//	if err != nil { ... }
//	conn, err := h.DialContext(ctx, "tcp", "kafka-1:9092")
//
//	// A scheme of your own, for one dialer (there is no global registry):
//	d, err := dialer.New(
//		dialer.WithScheme("corp", hop.BuilderFunc(func(req hop.Request) (hop.ContextDialer, error) {
//			return newCorpTunnel(req.URL, req.Forward)
//		})),
//		dialer.WithRules("*.kafka.corp:9092 => = via corp://gw-1"),
//	)
//
// The hops that come with kafkadial live in packages of their own:
// [github.com/kafkadial/kafkadial/hop/ssh] (OpenSSH client semantics:
// ssh_config, known_hosts, agent, ProxyJump, ProxyCommand),
// [github.com/kafkadial/kafkadial/hop/socks5],
// [github.com/kafkadial/kafkadial/hop/httpconnect], and, in a module of its
// own, github.com/kafkadial/kafkadial/hop/kube (Kubernetes port-forward
// through the API server). Each connects to its proxy through the Forward
// dialer it is given, so hops chain: a rule's "via a,b" reaches b through a.
//
// Package [github.com/kafkadial/kafkadial/hop/streamconn] gives a hop of
// your own conns with deadlines and CloseWrite over a tunnel's stream.
package hop

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/kafkadial/kafkadial/internal/netx"
)

// ContextDialer is the one method a hop needs. *net.Dialer,
// golang.org/x/net/proxy's dialers, kafkadial's dialer and every hop
// satisfy it.
type ContextDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// A Describer is a hop that can say what the text a rule names it by stands
// for: a kube hop says which kubeconfig context "k8s://" or a name given to
// dialer.WithVia means. Route.Via shows the description after the text when
// the two differ: "k8s:// (k8s://prod)".
type Describer interface {
	Describe() string
}

// A Request asks a Builder for the hop that a rule names by URL.
type Request struct {
	// URL is the hop as written in the rule (credentials included; show
	// it with Mask).
	URL *url.URL
	// Forward reaches the hop's own server: the dialer's forward dialer
	// for the first hop of a chain, else the hop before it.
	Forward ContextDialer
	// Chain names the hops before this one, as written and joined by ","
	// ("" for the first hop). Builders that share a connection between
	// rules key it by Forward, Chain and URL: within one dialer the same
	// Chain means the same Forward, but dialers sharing a builder (and
	// dialer.Check) pass Forward dialers of their own.
	Chain string
}

// First reports whether the hop is the first of its chain, reached through
// the dialer's own forward dialer.
func (r Request) First() bool { return r.Chain == "" }

// A Builder makes the hops of one URL scheme. A dialer calls Build once per
// distinct chain while it is built.
//
// Who builds a resource closes it. A builder owns the hops it builds: a
// dialer never closes them (nor a builder it was given), as an http.Client
// never closes a shared Transport; a builder whose hops hold connections
// has a Close of its own that closes them, called by whoever made the
// builder once every dialer using it is done. One builder may serve several
// dialers and dialer.Check at once, so a builder never hands out a closed
// hop: it builds a new one when a hop it made was closed by someone else,
// and once it is itself closed, Build fails with an error matching
// net.ErrClosed.
type Builder interface {
	Build(req Request) (ContextDialer, error)
}

// BuilderFunc adapts a function to a Builder.
type BuilderFunc func(req Request) (ContextDialer, error)

// Build calls f(req).
func (f BuilderFunc) Build(req Request) (ContextDialer, error) { return f(req) }

// Mask hides the password of a hop URL (scheme://user:password@host) for
// messages and logs: "scheme://user:***@host".
func Mask(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	at := strings.LastIndexByte(rest, '@')
	if slash := strings.IndexByte(rest, '/'); slash >= 0 && slash < at {
		at = -1
	}
	if at < 0 {
		return s
	}
	user := rest[:at]
	if c := strings.IndexByte(user, ':'); c >= 0 {
		user = user[:c] + ":***"
	}
	return s[:i+3] + user + rest[at:]
}

// CheckURL checks what every host:port hop URL needs: a host, a port from
// 1 to 65535 if one is given, and no path, query or fragment. Its errors
// show the URL masked.
func CheckURL(u *url.URL) error {
	shown := Mask(u.String())
	if u.Hostname() == "" {
		return fmt.Errorf("hop %s has no host", shown)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("hop %s: unexpected path, query or fragment (write scheme://[user@]host[:port])", shown)
	}
	if p := u.Port(); p != "" {
		if _, err := netx.ParsePort(p); err != nil {
			return fmt.Errorf("hop %s: bad port %q", shown, p)
		}
	}
	return nil
}

// CheckRequest checks what a builder of one of schemes needs before it
// builds: the URL as CheckURL does, its scheme, and a forward dialer.
func CheckRequest(u *url.URL, forward ContextDialer, schemes ...string) error {
	if err := CheckURL(u); err != nil {
		return err
	}
	if !slices.ContainsFunc(schemes, func(s string) bool { return strings.EqualFold(s, u.Scheme) }) {
		return fmt.Errorf("hop %s: scheme %q is not %s", Mask(u.String()), u.Scheme, strings.Join(schemes, " or "))
	}
	if forward == nil {
		return fmt.Errorf("hop %s: nil forward dialer", Mask(u.String()))
	}
	return nil
}

// ParseURL parses a hop URL without echoing it in errors (url.Parse's
// errors quote the whole URL, credentials included) and checks it as
// CheckURL does.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("bad hop URL %s", Mask(raw))
	}
	if err := CheckURL(u); err != nil {
		return nil, err
	}
	return u, nil
}
