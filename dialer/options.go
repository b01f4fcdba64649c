package dialer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/kafkadial/kafkadial/hop"
	"github.com/kafkadial/kafkadial/hop/ssh"
)

// DefaultTimeout bounds a dial (connect, hops and TLS handshake) when no
// WithTimeout option is given.
const DefaultTimeout = 10 * time.Second

// An Option configures a Dialer. Options apply in the order given; rules
// from several options keep that order, which is the order they match in.
type Option func(*config) error

type ruleSource struct {
	name, text string
	file       bool // text is a path to read
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

// newConfig applies opts, in order, over the defaults.
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
	return c, nil
}

type config struct {
	sources  []ruleSource
	forward  ContextDialer
	tls      *tls.Config
	strict   bool
	timeout  time.Duration
	logger   *slog.Logger
	hops     map[string]ContextDialer
	resolver Resolver
	getenv   func(string) string
	schemes  map[string]hop.Builder // WithScheme

	sshConfigSet  bool   // WithSSHConfig was given
	sshConfigPath string // its path; "" = read no ssh_config
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
// documentation). Errors name the source "rules".
func WithRules(text string) Option { return WithNamedRules("rules", text) }

// WithNamedRules is WithRules with the name that errors and Route.Rule give
// as the source, e.g. "compose.rules".
func WithNamedRules(source, text string) Option {
	return func(c *config) error {
		c.sources = append(c.sources, ruleSource{name: source, text: text})
		return nil
	}
}

// WithRulesFile adds the rules in a file, read when New runs.
func WithRulesFile(path string) Option {
	return func(c *config) error {
		c.sources = append(c.sources, ruleSource{name: path, text: path, file: true})
		return nil
	}
}

// WithEnv adds rules from the environment: the rule text in KAFKADIAL_RULES
// (source "KAFKADIAL_RULES"), then the file named by KAFKADIAL_RULES_FILE.
// Unset variables add nothing.
func WithEnv() Option {
	return func(c *config) error {
		getenv := c.getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		if text := getenv("KAFKADIAL_RULES"); text != "" {
			c.sources = append(c.sources, ruleSource{name: "KAFKADIAL_RULES", text: text})
		}
		if path := getenv("KAFKADIAL_RULES_FILE"); path != "" {
			c.sources = append(c.sources, ruleSource{name: path, text: path, file: true})
		}
		return nil
	}
}

// WithGetenv makes WithEnv options that follow it read variables through
// getenv instead of os.Getenv, for tests and for programs that keep their
// settings elsewhere.
func WithGetenv(getenv func(string) string) Option {
	return func(c *config) error {
		c.getenv = getenv
		return nil
	}
}

// WithForward sets the dialer that makes the final connection (or the
// connection to the first hop). The default is a net.Dialer.
func WithForward(d ContextDialer) Option {
	return func(c *config) error {
		if d == nil {
			return errors.New("kafkadial: WithForward(nil)")
		}
		c.forward = d
		return nil
	}
}

// WithTLS makes the dialer perform a TLS handshake after connecting. Unless
// cfg.ServerName is set, the certificate is verified against the advertised
// host, never the remapped target. Leave it unset for clients that do TLS
// themselves (sarama, kafka-go): their adapters hand this config to the
// client instead, so that no connection gets TLS twice.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) error {
		if cfg == nil {
			return errors.New("kafkadial: WithTLS(nil)")
		}
		c.tls = cfg
		return nil
	}
}

// WithStrict makes an address that no rule matches an error wrapping
// ErrNoRoute instead of a direct dial: the dialer fails closed.
func WithStrict() Option {
	return func(c *config) error {
		c.strict = true
		return nil
	}
}

// WithTimeout bounds each dial, hops and TLS handshake included, whatever the
// caller's context says. The default is DefaultTimeout; 0 leaves only the
// caller's context.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("kafkadial: negative timeout %s", d)
		}
		c.timeout = d
		return nil
	}
}

// WithLogger sets the logger for routing decisions (Debug) and failed dials
// (Warn). The default discards. Credentials never reach the logger.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		c.logger = l
		return nil
	}
}

// WithVia registers a hop built in code under a name that rules can use as
// "via name". The dialer does not close it.
func WithVia(name string, d ContextDialer) Option {
	return func(c *config) error {
		if !isHopName(name) {
			return fmt.Errorf("kafkadial: bad hop name %q: use letters, digits, '-', '_' and '.'", name)
		}
		if d == nil {
			return fmt.Errorf("kafkadial: WithVia(%q, nil)", name)
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
