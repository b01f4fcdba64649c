package dialer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"time"

	"github.com/kafkadial/kafkadial/hop"
	"github.com/kafkadial/kafkadial/hop/ssh"
)

// DefaultTimeout is the bound WithTimeout sets on each dial (resolver
// lookup, connect, hops and TLS handshake) when no WithTimeout option is
// given.
const DefaultTimeout = 10 * time.Second

// An Option configures a Dialer; New and Check apply them. A nil Option is
// ignored. The order of options never matters: New records what each sets
// and resolves combinations itself (WithGetenv applies to WithEnv wherever
// either appears). Where an option adds to a list, the list keeps the order
// given because that order means something: rule sources (WithRules,
// WithNamedRules, WithRulesFile, WithEnv) are matched in the order given,
// and resolvers (WithResolver) are asked in the order given. An option that
// sets one value (WithTimeout, WithForward, WithTLS, WithLogger, WithGetenv,
// WithVia for one name) may be given again only with the same value: two
// different values would make the order decide, so New refuses them with
// an error naming the option.
type Option func(*config) error

type ruleSource struct {
	name, text string
	file       bool // text is a path to read
	env        bool // WithEnv: expanded by newConfig once getenv is known
}

// load returns the rule text, reading the file of a file source.
func (s ruleSource) load() (string, error) {
	if !s.file {
		return s.text, nil
	}
	b, err := os.ReadFile(s.text)
	if err != nil {
		return "", fmt.Errorf("reading rules: %w", err)
	}
	return string(b), nil
}

// newConfig applies opts over the defaults, then resolves what depends on
// more than one option, so that their order does not matter.
func newConfig(opts []Option) (*config, error) {
	c := &config{timeout: DefaultTimeout}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	getenv := c.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	var sources []ruleSource
	for _, s := range c.sources {
		if !s.env {
			sources = append(sources, s)
			continue
		}
		if text := getenv("KAFKADIAL_RULES"); text != "" {
			sources = append(sources, ruleSource{name: "KAFKADIAL_RULES", text: text})
		}
		if path := getenv("KAFKADIAL_RULES_FILE"); path != "" {
			sources = append(sources, ruleSource{name: path, text: path, file: true})
		}
	}
	c.sources = sources
	return c, nil
}

type config struct {
	sources   []ruleSource
	forward   ContextDialer
	tls       *tls.Config
	strict    bool
	timeout   time.Duration
	logger    *slog.Logger
	hops      map[string]ContextDialer
	resolvers []Resolver
	getenv    func(string) string
	schemes   map[string]hop.Builder // WithScheme

	sshConfigSet  bool   // WithSSHConfig was given
	sshConfigPath string // its path; "" = read no ssh_config

	given map[string]any // single-valued options given, by name, with their value
}

// setOnce records the value of a single-valued option. Giving it again is
// an error unless the value is the same: with two values, the order of the
// options would decide.
func (c *config) setOnce(name string, v any) error {
	if old, ok := c.given[name]; ok {
		if !sameValue(old, v) {
			return fmt.Errorf("kafkadial: %s given twice with different values: options apply in any order, so give it once", name)
		}
		return nil
	}
	if c.given == nil {
		c.given = map[string]any{}
	}
	c.given[name] = v
	return nil
}

// sameValue reports whether two option values are the same value; values
// of types that cannot be compared (functions) never are.
func sameValue(a, b any) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb || ta == nil || !ta.Comparable() {
		return ta == nil && tb == nil
	}
	return a == b
}

// sshOptions configures the ssh:// hops of a dialer.
func (c *config) sshOptions() []ssh.Option {
	opts := []ssh.Option{ssh.WithTimeout(c.timeout)}
	if c.sshConfigSet {
		opts = append(opts, ssh.WithConfigFile(c.sshConfigPath))
	}
	if c.getenv != nil {
		opts = append(opts, ssh.WithGetenv(c.getenv))
	}
	if c.logger != nil {
		opts = append(opts, ssh.WithLogger(c.logger))
	}
	return opts
}

// WithRules adds rules written in the rule language (see the package
// documentation). Errors and Route.Rule name the source "rules". Rule
// sources match in the order given. Default: no rules.
func WithRules(text string) Option { return WithNamedRules("rules", text) }

// WithNamedRules is WithRules with the name that errors and Route.Rule give
// as the source, e.g. "compose.rules". Default: no rules.
func WithNamedRules(source, text string) Option {
	return func(c *config) error {
		c.sources = append(c.sources, ruleSource{name: source, text: text})
		return nil
	}
}

// WithRulesFile adds the rules in a file, read when New runs. Default: no
// rule file.
func WithRulesFile(path string) Option {
	return func(c *config) error {
		c.sources = append(c.sources, ruleSource{name: path, text: path, file: true})
		return nil
	}
}

// WithEnv adds rules from the environment, at its place among the rule
// sources: the rule text in KAFKADIAL_RULES (source "KAFKADIAL_RULES"),
// then the file named by KAFKADIAL_RULES_FILE. Variables are read with the
// function given to WithGetenv, wherever that option appears, and with
// os.Getenv without one. Unset variables add nothing. Default: the
// environment is not read.
func WithEnv() Option {
	return func(c *config) error {
		c.sources = append(c.sources, ruleSource{env: true})
		return nil
	}
}

// WithGetenv makes WithEnv, and the ssh:// hops (HOME, SSH_AUTH_SOCK), read
// variables through getenv instead of os.Getenv, for tests and for programs
// that keep their settings elsewhere. It applies whether it is given before
// or after WithEnv. Default: os.Getenv. A nil getenv is os.Getenv.
func WithGetenv(getenv func(string) string) Option {
	return func(c *config) error {
		if err := c.setOnce("WithGetenv", getenv); err != nil {
			return err
		}
		c.getenv = getenv
		return nil
	}
}

// WithForward sets the dialer that makes the final connection (or the
// connection to the first hop). Default: a zero net.Dialer. It must not be
// nil.
func WithForward(d ContextDialer) Option {
	return func(c *config) error {
		if d == nil {
			return errors.New("kafkadial: WithForward: nil dialer")
		}
		if err := c.setOnce("WithForward", d); err != nil {
			return err
		}
		c.forward = d
		return nil
	}
}

// WithTLS makes the dialer perform a TLS handshake after connecting. Unless
// cfg.ServerName is set, the certificate is verified against the advertised
// host, never the remapped target. Leave it unset for clients that do TLS
// themselves (sarama, kafka-go): their adapters hand this config to the
// client instead, so that no connection gets TLS twice. Default: no TLS. It
// must not be nil.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) error {
		if cfg == nil {
			return errors.New("kafkadial: WithTLS: nil config")
		}
		if err := c.setOnce("WithTLS", cfg); err != nil {
			return err
		}
		c.tls = cfg
		return nil
	}
}

// WithStrict makes an address that no rule matches and no resolver knows an
// error wrapping ErrNoRoute instead of a direct dial: the dialer fails
// closed. Default: such an address is dialled as asked.
func WithStrict() Option {
	return func(c *config) error {
		c.strict = true
		return nil
	}
}

// WithTimeout sets an upper bound on each dial — the resolvers' lookups,
// the connect, the hops (an ssh:// hop's connect, which ssh_config's
// ConnectTimeout may only shorten) and the TLS handshake together — and on
// the resolver lookup of RouteContext. It is applied as whichever of it and
// the caller's context ends first: a context with an earlier deadline, or
// cancelled, ends the dial sooner; a later one does not extend it.
// DialError.DialerTimeout says when it was this bound that expired.
// Default: DefaultTimeout (10s). 0 sets no bound of the dialer's own, only
// the caller's context's; a negative duration is an error.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("kafkadial: WithTimeout: negative duration %s", d)
		}
		if err := c.setOnce("WithTimeout", d); err != nil {
			return err
		}
		c.timeout = d
		return nil
	}
}

// WithLogger sets the logger for routing decisions (Debug) and failed dials
// (Warn). Default: logs are discarded; WithLogger(nil) discards too.
// Credentials never reach the logger.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if err := c.setOnce("WithLogger", l); err != nil {
			return err
		}
		c.logger = l
		return nil
	}
}

// WithVia registers a hop built in code under a name that rules can use as
// "via name". The dialer does not close it. Default: no named hops. One
// name may be registered once (again only with the same dialer).
func WithVia(name string, d ContextDialer) Option {
	return func(c *config) error {
		if !isHopName(name) {
			return fmt.Errorf("kafkadial: WithVia: bad hop name %q: use letters, digits, '-', '_' and '.'", name)
		}
		if d == nil {
			return fmt.Errorf("kafkadial: WithVia(%q): nil dialer", name)
		}
		if err := c.setOnce(fmt.Sprintf("WithVia(%q)", name), d); err != nil {
			return err
		}
		if c.hops == nil {
			c.hops = map[string]ContextDialer{}
		}
		c.hops[name] = d
		return nil
	}
}

func isHopName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
