package resolver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// ErrNotFound is wrapped by the *net.DNSError of a name the resolver does
// not hold: not in its zones, NXDOMAIN or NODATA upstream, or outside every
// zone and forward. The error's IsNotFound is true.
var ErrNotFound = errors.New("no such host")

// Resolver answers questions about broker names from local zone data and
// upstream servers, with a cache. It is safe for concurrent use and, once
// built by New, immutable apart from its caches.
type Resolver struct {
	zone        *zone
	forwards    map[string]*forward // by canonical suffix
	search      []string
	timeout     time.Duration
	log         *slog.Logger
	nonLoopback bool

	cache *cache // answers from upstream, by (name, type)

	rmu      sync.RWMutex
	resolved map[string]*resolved // Resolve results, by the hostport asked
	rmax     int
}

type forward struct {
	suffix  string
	servers []string
	// first is the index of the server to ask first: the one that
	// answered last. A pointer, so that config's copies share nothing.
	first *atomic.Int32
}

// New builds a Resolver. Zone data that does not parse is reported as a
// *ZoneError with the source and line.
func New(opts ...Option) (*Resolver, error) {
	c := &config{timeout: DefaultTimeout, cacheSize: DefaultCacheSize}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	z := newZone()
	for _, s := range c.zones {
		switch {
		case s.file:
			b, err := os.ReadFile(s.text)
			if err != nil {
				return nil, fmt.Errorf("resolver: reading zone: %w", err)
			}
			if err := z.parse(s.name, bytes.NewReader(b)); err != nil {
				return nil, err
			}
		case s.rrs != nil:
			for _, rr := range s.rrs {
				if err := z.add(s.name, rr); err != nil {
					return nil, err
				}
			}
		default:
			if err := z.parse(s.name, bytes.NewReader([]byte(s.text))); err != nil {
				return nil, err
			}
		}
	}
	z.finish()
	r := &Resolver{
		zone:        z,
		forwards:    map[string]*forward{},
		search:      c.search,
		timeout:     c.timeout,
		log:         c.logger,
		nonLoopback: c.nonLoopback,
		cache:       newCache(c.cacheSize, c.timeout),
		resolved:    map[string]*resolved{},
		rmax:        c.cacheSize,
	}
	for i := range c.forwards {
		f := c.forwards[i]
		f.first = new(atomic.Int32)
		r.forwards[f.suffix] = &f
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

// The three places a question can go.
const (
	refused   = iota // outside every zone and forward
	local            // answered from zone data
	forwarded        // asked upstream
)

// where decides who answers for a canonical name. A name with records is
// local. Below such a name (or a zone apex), names are local too (so they
// get NXDOMAIN), unless a forward names a suffix at least as long. Empty
// non-terminals not covered by a forward are local (NODATA).
func (r *Resolver) where(name string) (int, *forward) {
	if _, ok := r.zone.nodes[name]; ok {
		return local, nil
	}
	var f *forward
	ownerAt, fwdAt := -1, -1
	i := 0
	for p := name; p != ""; p = parent(p) {
		if fwdAt < 0 && len(r.forwards) > 0 {
			if ff := r.forwards[p]; ff != nil {
				f, fwdAt = ff, i
			}
		}
		if ownerAt < 0 && i > 0 {
			if _, ok := r.zone.nodes[p]; ok {
				ownerAt = i
			}
		}
		if ownerAt >= 0 && fwdAt >= 0 {
			break
		}
		i++
	}
	switch {
	case ownerAt >= 0 && (fwdAt < 0 || ownerAt < fwdAt):
		return local, nil
	case f != nil:
		return forwarded, f
	case r.zone.ents[name]:
		return local, nil
	}
	return refused, nil
}

// answer is what one question got.
type answer struct {
	rcode   int
	rrs     []dns.RR  // answer section
	ns      []dns.RR  // authority section (the SOA of a negative answer)
	expires time.Time // zero: local data, never expires
	server  string    // "zone" or the upstream that answered
}

func (a *answer) local() bool { return a.expires.IsZero() }

// localAnswer answers from zone data.
func (r *Resolver) localAnswer(name string, qtype uint16) *answer {
	z := r.zone
	a := &answer{rcode: dns.RcodeSuccess, server: "zone"}
	switch n := z.nodes[name]; {
	case n == nil:
		if !z.ents[name] {
			a.rcode = dns.RcodeNameError
		}
	case qtype == dns.TypeANY:
		a.rrs = n.all
	case len(n.rrs[qtype]) > 0:
		a.rrs = n.rrs[qtype]
	case n.cname != nil:
		a.rrs = n.rrs[dns.TypeCNAME]
	}
	if len(a.rrs) == 0 {
		if soa := z.negSOA(name); soa != nil {
			a.ns = []dns.RR{soa}
		}
	}
	return a
}

// lookupOne answers one question without following CNAMEs outside the
// answer: from the zone, the cache, or upstream (one query for concurrent
// askers).
func (r *Resolver) lookupOne(ctx context.Context, name string, qtype uint16) (*answer, error) {
	kind, f := r.where(name)
	switch kind {
	case local:
		return r.localAnswer(name, qtype), nil
	case refused:
		return &answer{rcode: dns.RcodeRefused, server: "resolver"}, nil
	}
	a, err := r.cache.get(ctx, qkey{name, qtype}, func(ctx context.Context) (*answer, error) {
		return r.exchange(ctx, f, name, qtype)
	})
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// This lookup's bound (or its caller) ended while the upstream had
		// not answered: say which upstream, as a failed exchange does.
		return nil, &net.DNSError{
			Err:         fmt.Sprintf("%s query (forward for %s): no answer in time: %v", dns.TypeToString[qtype], f.suffix, err),
			Name:        name,
			Server:      f.shown(),
			IsTimeout:   errors.Is(err, context.DeadlineExceeded),
			IsTemporary: true,
			UnwrapErr:   err,
		}
	}
	return a, err
}

// shown names f's upstream servers for errors.
func (f *forward) shown() string {
	if len(f.servers) == 1 {
		return f.servers[0]
	}
	return fmt.Sprint(f.servers)
}

const maxChain = 8

// lookup answers a question, following CNAME chains across zone data and
// upstreams. The rcode is that of the last name in the chain.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) (*answer, error) {
	a, err := r.lookupOne(ctx, name, qtype)
	if err != nil || qtype == dns.TypeCNAME || qtype == dns.TypeANY {
		return a, err
	}
	cur := name
	for range maxChain {
		end, done, err := chainEnd(a.rrs, cur, qtype)
		if err != nil {
			return nil, &net.DNSError{Err: err.Error(), Name: name, Server: a.server}
		}
		if done || a.rcode != dns.RcodeSuccess {
			return a, nil
		}
		next, err := r.lookupOne(ctx, end, qtype)
		if err != nil {
			return nil, err
		}
		a = &answer{
			rcode:   next.rcode,
			rrs:     append(append([]dns.RR(nil), a.rrs...), next.rrs...),
			ns:      next.ns,
			expires: earliest(a.expires, next.expires),
			server:  next.server,
		}
		cur = end
	}
	return nil, &net.DNSError{Err: "CNAME chain too long", Name: name, Server: a.server}
}

// chainEnd follows the CNAMEs in rrs from name. done reports that rrs hold
// no CNAME to follow further (data of qtype, or nothing).
func chainEnd(rrs []dns.RR, name string, qtype uint16) (end string, done bool, err error) {
	end = name
	for range 2*maxChain + 1 {
		var next string
		for _, rr := range rrs {
			h := rr.Header()
			if !equalName(h.Name, end) {
				continue
			}
			if h.Rrtype == qtype {
				return end, true, nil
			}
			if c, ok := rr.(*dns.CNAME); ok {
				next = c.Target
			}
		}
		if next == "" {
			return end, end == name, nil
		}
		end = canonical(next)
		if end == name {
			return "", false, errors.New("CNAME loop")
		}
	}
	return "", false, errors.New("CNAME chain too long")
}

func equalName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// earliest of two expiry times, where zero means never.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}
