package resolver

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DefaultTimeout is the bound WithTimeout sets on each lookup when no
// WithTimeout option is given.
const DefaultTimeout = 5 * time.Second

// DefaultCacheSize is the number of answers the cache keeps when no
// WithCacheSize option is given.
const DefaultCacheSize = 10000

// An Option configures a Resolver; New applies them. A nil Option is
// ignored. The order of options never matters, except where an option adds
// to a list whose order means something: zone sources (a name's records
// from several are merged), the servers of WithForward options for one
// suffix (tried in the order given), and WithSearch domains (tried in the
// order given). An option that sets one value (WithTimeout, WithCacheSize,
// WithLogger) may be given again only with the same value: New refuses two
// different values with an error naming the option.
type Option func(*config) error

type zoneSource struct {
	name, text string
	file       bool
	rrs        []dns.RR
}

type config struct {
	zones       []zoneSource
	forwards    []forward
	search      []string
	timeout     time.Duration
	cacheSize   int
	logger      *slog.Logger
	nonLoopback bool

	given map[string]any // single-valued options given, with their value
}

// setOnce records the value of a single-valued option; giving it again with
// another value is an error, since the order of options would decide.
func (c *config) setOnce(name string, v any) error {
	if old, ok := c.given[name]; ok {
		if old != v {
			return fmt.Errorf("resolver: %s given twice with different values: options apply in any order, so give it once", name)
		}
		return nil
	}
	if c.given == nil {
		c.given = map[string]any{}
	}
	c.given[name] = v
	return nil
}

// WithZone adds records written as RFC 1035 zone text (parsed with
// dns.ZoneParser). Relative names are relative to the root unless the text
// sets $ORIGIN, so "kafka-3 A 127.0.0.1" defines the single-label name
// kafka-3. Errors name the source "zone" with line and column. Default: no
// zone data.
func WithZone(text string) Option { return WithNamedZone("zone", text) }

// WithNamedZone is WithZone with the source name that errors give. Default:
// no zone data.
func WithNamedZone(source, text string) Option {
	return func(c *config) error {
		c.zones = append(c.zones, zoneSource{name: source, text: text})
		return nil
	}
}

// WithZoneFile adds the records of a zone file, read when New runs.
// Default: no zone file.
func WithZoneFile(path string) Option {
	return func(c *config) error {
		c.zones = append(c.zones, zoneSource{name: path, text: path, file: true})
		return nil
	}
}

// WithRecords adds records built in code, e.g. with dns.NewRR. Default: no
// records.
func WithRecords(rrs ...dns.RR) Option {
	return func(c *config) error {
		c.zones = append(c.zones, zoneSource{name: "records", rrs: rrs})
		return nil
	}
}

// WithForward sends questions about names under suffix to server ("IP" or
// "IP:port", port 53 by default), over UDP with a TCP retry when the answer
// is truncated. The longest matching suffix wins; "." matches every name,
// making the resolver recursive for everything its zones do not hold.
// Several WithForward options for one suffix give servers to try in the
// order given, starting, once one has answered, from the one that answered
// last (so a server that is down costs one wait, not one per question).
// Default: no forward, so names outside the zones are refused: the
// resolver is never an open resolver by default.
func WithForward(suffix, server string) Option {
	return func(c *config) error {
		s := canonical(suffix)
		if _, ok := dns.IsDomainName(s); !ok || s == "" {
			return fmt.Errorf("resolver: WithForward: bad domain suffix %q", suffix)
		}
		addr, err := serverAddr(server)
		if err != nil {
			return fmt.Errorf("resolver: WithForward(%q): %w", suffix, err)
		}
		for i := range c.forwards {
			if c.forwards[i].suffix == s {
				c.forwards[i].servers = append(c.forwards[i].servers, addr)
				return nil
			}
		}
		c.forwards = append(c.forwards, forward{suffix: s, servers: []string{addr}})
		return nil
	}
}

// serverAddr checks an upstream address: an IP literal with an optional port.
func serverAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.Trim(s, "[]"), "53"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", fmt.Errorf("server %q: want an IP address with an optional port (a name would need a resolver itself)", s)
	}
	ap, err := netip.ParseAddrPort(net.JoinHostPort(ip.String(), port))
	if err != nil || ap.Port() == 0 {
		return "", fmt.Errorf("server %q: bad port", s)
	}
	return ap.String(), nil
}

// WithSearch sets the search domains tried for names with no dot, before
// the name itself, as resolv.conf's "search" does: with WithSearch("corp."),
// Resolve("kafka-3:9092") asks for kafka-3.corp. and then kafka-3. The
// default is none. The system's resolv.conf is never read.
func WithSearch(domains ...string) Option {
	return func(c *config) error {
		for _, d := range domains {
			s := canonical(d)
			if _, ok := dns.IsDomainName(s); !ok || s == "" || s == "." {
				return fmt.Errorf("resolver: WithSearch: bad domain %q", d)
			}
			c.search = append(c.search, s)
		}
		return nil
	}
}

// WithTimeout sets an upper bound on each lookup: one Resolve or
// LookupHost call (the SRV, A and AAAA questions it asks, for every search
// domain, and every upstream server tried), or the answer to one question
// served by ServeDNS, Listen or NetResolver. It is applied as whichever of
// it and the caller's context ends first. Within it, each upstream server
// asked gets an equal share of what is left for the servers not yet tried.
// An upstream answer shared by concurrent lookups is fetched under a bound
// of its own, the same duration, so that one caller giving up does not
// fail the others. Default: DefaultTimeout (5s). It must be positive.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("resolver: WithTimeout: duration %s is not positive", d)
		}
		if err := c.setOnce("WithTimeout", d); err != nil {
			return err
		}
		c.timeout = d
		return nil
	}
}

// WithCacheSize bounds the number of cached answers. When full, expired
// answers go first, then arbitrary ones. Default: DefaultCacheSize. It must
// be at least 1.
func WithCacheSize(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("resolver: WithCacheSize: size %d is below 1", n)
		}
		if err := c.setOnce("WithCacheSize", n); err != nil {
			return err
		}
		c.cacheSize = n
		return nil
	}
}

// WithLogger sets the logger for upstream failures (Warn) and served
// queries (Debug). Default: logs are discarded; WithLogger(nil) discards
// too.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if err := c.setOnce("WithLogger", l); err != nil {
			return err
		}
		c.logger = l
		return nil
	}
}

// WithNonLoopback lets Listen and ListenAndServe bind addresses other than
// loopback ones. Without it they refuse, because a resolver with a "."
// forward that others can reach is an open resolver. Default: loopback
// only.
func WithNonLoopback() Option {
	return func(c *config) error {
		c.nonLoopback = true
		return nil
	}
}
