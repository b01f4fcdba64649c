package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ednsSize is the UDP payload size the resolver offers and accepts
// (the DNS flag day 2020 value, which avoids IP fragmentation).
const ednsSize = 1232

// negativeTTL is how long a negative upstream answer without an SOA is
// cached; maxTTL caps every cached answer.
const (
	negativeTTL = 10 * time.Second
	maxTTL      = time.Hour
)

// exchange asks f's servers in order, from the one that answered last,
// until one gives an answer (NOERROR or NXDOMAIN). Each server gets an
// equal share of the time ctx leaves for the servers not yet asked.
func (r *Resolver) exchange(ctx context.Context, f *forward, name string, qtype uint16) (*answer, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = true
	q.SetEdns0(ednsSize, false)
	var errs []error
	timeout := false
	n := len(f.servers)
	first := int(f.first.Load())
	for k := range n {
		i := (first + k) % n
		server := f.servers[i]
		share := r.timeout
		if dl, ok := ctx.Deadline(); ok {
			share = max(time.Until(dl)/time.Duration(n-k), time.Millisecond)
		}
		in, err := r.exchangeOne(ctx, server, q, share)
		if err == nil {
			switch in.Rcode {
			case dns.RcodeSuccess, dns.RcodeNameError:
				f.first.Store(int32(i))
				return fromUpstream(in, server, time.Now()), nil
			}
			err = fmt.Errorf("answered %s", dns.RcodeToString[in.Rcode])
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			timeout = true
		}
		r.log.LogAttrs(ctx, slog.LevelWarn, "resolver: upstream failed",
			slog.String("server", server), slog.String("name", name),
			slog.String("type", dns.TypeToString[qtype]), slog.Any("error", err))
		if len(f.servers) > 1 {
			err = fmt.Errorf("%s: %w", server, err)
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	err := errors.Join(errs...)
	return nil, &net.DNSError{
		Err:         fmt.Sprintf("%s query (forward for %s): %v", dns.TypeToString[qtype], f.suffix, strings.ReplaceAll(err.Error(), "\n", "; ")),
		Name:        name,
		Server:      f.shown(),
		IsTimeout:   timeout,
		IsTemporary: true,
		UnwrapErr:   err,
	}
}

// exchangeOne asks one server over UDP, and again over TCP when the answer
// comes back truncated, each within timeout.
func (r *Resolver) exchangeOne(ctx context.Context, server string, q *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	in, err := r.exchangeNet(ctx, "udp", server, q, timeout)
	if err == nil && in.Truncated {
		in, err = r.exchangeNet(ctx, "tcp", server, q, timeout)
	}
	if err != nil {
		return nil, err
	}
	if len(in.Question) != 1 || !equalName(in.Question[0].Name, q.Question[0].Name) ||
		in.Question[0].Qtype != q.Question[0].Qtype {
		return nil, errors.New("answer is for another question")
	}
	return in, nil
}

func (r *Resolver) exchangeNet(ctx context.Context, network, server string, q *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: timeout, UDPSize: ednsSize}
	co, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer co.Close()
	// The client honours deadlines only; make cancellation close the conn.
	stop := context.AfterFunc(ctx, func() { co.Close() })
	defer stop()
	in, _, err := c.ExchangeWithConnContext(ctx, q, co)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%s: %w", network, ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", network, err)
	}
	return in, nil
}

// fromUpstream turns an upstream reply into a cacheable answer: positive
// answers live for their smallest TTL, negative ones for the SOA's
// negative TTL (RFC 2308) or negativeTTL without one.
func fromUpstream(in *dns.Msg, server string, now time.Time) *answer {
	a := &answer{rcode: in.Rcode, server: server}
	for _, rr := range in.Answer {
		if rr.Header().Rrtype != dns.TypeOPT {
			a.rrs = append(a.rrs, rr)
		}
	}
	for _, rr := range in.Ns {
		if rr.Header().Rrtype == dns.TypeSOA {
			a.ns = append(a.ns, rr)
		}
	}
	ttl := maxTTL
	switch {
	case len(a.rrs) > 0:
		for _, rr := range a.rrs {
			ttl = min(ttl, time.Duration(rr.Header().Ttl)*time.Second)
		}
	case len(a.ns) > 0:
		soa := a.ns[0].(*dns.SOA)
		ttl = min(ttl, time.Duration(min(soa.Hdr.Ttl, soa.Minttl))*time.Second)
	default:
		ttl = negativeTTL
	}
	// A zero TTL means "do not cache": expires == now, which get treats as
	// stale, while the answer itself still serves the askers waiting for it.
	a.expires = now.Add(ttl)
	if ttl <= 0 {
		a.expires = now
	}
	return a
}
