package resolver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// resolved is a cached Resolve result: candidates grouped by SRV record.
type resolved struct {
	flat    []string   // every candidate in stored order
	entries []srvEntry // nil unless some priority has several weighted records
	expires int64      // unix nanoseconds; 0 = never (local data only)
}

type srvEntry struct {
	prio, weight uint16
	addrs        []string
}

// candidates returns a fresh slice of the candidates, best first. Records of
// one SRV priority are ordered by weighted random choice (RFC 2782) on
// every call; without SRV records the order is fixed.
func (e *resolved) candidates() []string {
	out := make([]string, len(e.flat))
	if e.entries == nil {
		copy(out, e.flat)
		return out
	}
	var buf [16]int
	idx := buf[:0]
	if len(e.entries) > len(buf) {
		idx = make([]int, 0, len(e.entries))
	}
	for i := range e.entries {
		idx = append(idx, i)
	}
	for start := 0; start < len(idx); {
		end := start + 1
		for end < len(idx) && e.entries[idx[end]].prio == e.entries[idx[start]].prio {
			end++
		}
		// RFC 2782: pick each next record with probability weight/sum,
		// zero weights having a small chance.
		for i := start; i < end-1; i++ {
			sum := 0
			for _, j := range idx[i:end] {
				sum += int(e.entries[j].weight)
			}
			pick := rand.IntN(sum + 1)
			k, run := i, 0
			for ; k < end; k++ {
				run += int(e.entries[idx[k]].weight)
				if run >= pick {
					break
				}
			}
			idx[i], idx[k] = idx[k], idx[i]
		}
		start = end
	}
	n := 0
	for _, j := range idx {
		n += copy(out[n:], e.entries[j].addrs)
	}
	return out
}

// Resolve returns where hostport really is: host:port candidates, best
// first. An SRV record at _PORT._tcp.HOST (the DANE/TLSA naming) gives the
// targets and port, ordered by priority and weight; otherwise HOST's A
// then AAAA addresses keep the port. Names without a dot try the search
// domains first. A name the resolver does not hold gives a *net.DNSError
// whose IsNotFound is true (it wraps ErrNotFound); a failing upstream gives
// one naming the server, with IsTimeout set when it timed out.
//
// The lookup is bounded by whichever of WithTimeout and ctx ends first.
// Results are cached for the smallest TTL involved; a cached Resolve
// allocates only the returned slice.
func (r *Resolver) Resolve(ctx context.Context, hostport string) ([]string, error) {
	r.rmu.RLock()
	e := r.resolved[hostport]
	r.rmu.RUnlock()
	if e != nil && (e.expires == 0 || time.Now().UnixNano() < e.expires) {
		return e.candidates(), nil
	}
	e, err := r.resolve(ctx, hostport)
	if err != nil {
		return nil, err
	}
	r.rmu.Lock()
	if len(r.resolved) >= r.rmax {
		now := time.Now().UnixNano()
		for k, old := range r.resolved {
			if old.expires != 0 && old.expires <= now || len(r.resolved) >= r.rmax {
				delete(r.resolved, k)
			}
		}
	}
	r.resolved[hostport] = e
	r.rmu.Unlock()
	return e.candidates(), nil
}

func (r *Resolver) resolve(ctx context.Context, hostport string) (*resolved, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("resolver: %w", err)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return nil, fmt.Errorf("resolver: %s: bad port %q", hostport, port)
	}
	names, err := r.names(host)
	if err != nil {
		return nil, err
	}
	var firstErr, notFoundErr error
	for _, name := range names {
		e, err := r.resolveName(ctx, name, port)
		if err == nil {
			return e, nil
		}
		if isNotFound(err) {
			if notFoundErr == nil {
				notFoundErr = err
			}
			continue
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if len(names) > 1 {
		return nil, notFound(host, "", fmt.Sprintf("no such host (tried %s)", strings.Join(names, ", ")))
	}
	return nil, notFoundErr
}

// names lists the fully qualified names to try for host, in order.
func (r *Resolver) names(host string) ([]string, error) {
	if host == "" {
		return nil, &net.DNSError{Err: "empty host name", Name: host, IsNotFound: true, UnwrapErr: ErrNotFound}
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return nil, notFound(host, "", "an IP address: nothing to resolve")
	}
	fq := canonical(host)
	if _, ok := dns.IsDomainName(fq); !ok {
		return nil, &net.DNSError{Err: "not a domain name", Name: host, IsNotFound: true, UnwrapErr: ErrNotFound}
	}
	if strings.HasSuffix(host, ".") || len(r.search) == 0 {
		return []string{fq}, nil
	}
	names := make([]string, 0, len(r.search)+1)
	dotted := strings.Contains(host, ".")
	if dotted {
		names = append(names, fq) // ndots 1: as is first
	}
	for _, s := range r.search {
		if s == "." {
			continue
		}
		names = append(names, fq+s)
	}
	if !dotted {
		names = append(names, fq)
	}
	return names, nil
}

func (r *Resolver) resolveName(ctx context.Context, name, port string) (*resolved, error) {
	srv, err := r.lookup(ctx, "_"+port+"._tcp."+name, dns.TypeSRV)
	if err != nil {
		return nil, err
	}
	var recs []*dns.SRV
	for _, rr := range srv.rrs {
		if s, ok := rr.(*dns.SRV); ok {
			recs = append(recs, s)
		}
	}
	if len(recs) == 0 {
		addrs, exp, err := r.addrs(ctx, name)
		if err != nil {
			return nil, err
		}
		e := &resolved{flat: make([]string, len(addrs))}
		for i, a := range addrs {
			e.flat[i] = net.JoinHostPort(a, port)
		}
		e.setExpiry(earliest(srv.expires, exp))
		return e, nil
	}
	if len(recs) == 1 && recs[0].Target == "." {
		return nil, notFound(name, srv.server, fmt.Sprintf("SRV record _%s._tcp.%s says the service is not available here", port, name))
	}
	slices.SortStableFunc(recs, func(a, b *dns.SRV) int { return cmp.Compare(a.Priority, b.Priority) })
	e := &resolved{}
	exp := srv.expires
	weighted := false
	for i, s := range recs {
		if s.Target == "." {
			continue
		}
		addrs, texp, err := r.addrs(ctx, canonical(s.Target))
		if isNotFound(err) {
			continue // a target without addresses: try the others
		}
		if err != nil {
			return nil, err
		}
		exp = earliest(exp, texp)
		ent := srvEntry{prio: s.Priority, weight: s.Weight}
		for _, a := range addrs {
			ent.addrs = append(ent.addrs, net.JoinHostPort(a, strconv.Itoa(int(s.Port))))
		}
		e.flat = append(e.flat, ent.addrs...)
		e.entries = append(e.entries, ent)
		if i > 0 && recs[i-1].Priority == s.Priority {
			weighted = true
		}
	}
	if len(e.flat) == 0 {
		return nil, notFound(name, srv.server, fmt.Sprintf("no address for any target of SRV _%s._tcp.%s", port, name))
	}
	if !weighted {
		e.entries = nil
	}
	e.setExpiry(exp)
	return e, nil
}

func (e *resolved) setExpiry(t time.Time) {
	if !t.IsZero() {
		e.expires = t.UnixNano()
	}
}

// addrs returns the IPv4 then IPv6 addresses of a canonical name.
func (r *Resolver) addrs(ctx context.Context, name string) ([]string, time.Time, error) {
	a, err := r.lookup(ctx, name, dns.TypeA)
	if err != nil {
		return nil, time.Time{}, err
	}
	var out []string
	for _, rr := range a.rrs {
		if v, ok := rr.(*dns.A); ok {
			out = append(out, v.A.String())
		}
	}
	exp := a.expires
	server := a.server
	switch a.rcode {
	case dns.RcodeSuccess:
		aaaa, err := r.lookup(ctx, name, dns.TypeAAAA)
		if err != nil {
			return nil, time.Time{}, err
		}
		for _, rr := range aaaa.rrs {
			if v, ok := rr.(*dns.AAAA); ok {
				out = append(out, v.AAAA.String())
			}
		}
		exp = earliest(exp, aaaa.expires)
	case dns.RcodeRefused:
		return nil, time.Time{}, notFound(name, "", "not in any zone or forward of the resolver")
	}
	if len(out) == 0 {
		return nil, time.Time{}, notFound(name, server, "no such host")
	}
	return out, exp, nil
}

// LookupHost returns the addresses of host (IPv4 first) from the zones and
// forwards, trying the search domains as Resolve does. An IP address is
// returned as is. The lookup is bounded by whichever of WithTimeout and ctx
// ends first.
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []string{ip.String()}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	names, err := r.names(host)
	if err != nil {
		return nil, err
	}
	var firstErr, notFoundErr error
	for _, name := range names {
		addrs, _, err := r.addrs(ctx, name)
		if err == nil {
			return addrs, nil
		}
		switch {
		case isNotFound(err):
			if notFoundErr == nil {
				notFoundErr = err
			}
		case firstErr == nil:
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if len(names) > 1 {
		return nil, notFound(host, "", fmt.Sprintf("no such host (tried %s)", strings.Join(names, ", ")))
	}
	return nil, notFoundErr
}

func notFound(name, server, why string) error {
	return &net.DNSError{Err: why, Name: name, Server: server, IsNotFound: true, UnwrapErr: ErrNotFound}
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
