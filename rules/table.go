package rules

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// matchResult holds what a rule's match captured, as substrings of the
// address asked for.
type matchResult struct {
	host, port string // canonical host; port as asked
	caps       [maxWildcards + 1]string
	groups     []string // submatches of a regexp rule
}

func (m *matchResult) get(ref int) string {
	switch {
	case ref == refHost:
		return m.host
	case ref == refPort:
		return m.port
	case m.groups != nil:
		return m.groups[ref]
	}
	return m.caps[ref]
}

// table indexes rules so that a lookup touches only the rules that can
// match: exact hosts and CIDR prefixes by map, globs by their longest literal
// end (prefix or suffix) in maps keyed by length. Rules with no literal to
// index (regexps, "*") are scanned. Every index keeps rule numbers in
// ascending order, so the first match of each is the earliest, and the
// earliest of those is the first rule in written order that matches.
//
// A Table is immutable and safe for concurrent use.
type Table struct {
	rules      []*Rule
	exact      map[string][]int32
	prefix     map[string][]int32
	suffix     map[string][]int32
	prefixLens []int // distinct key lengths in prefix, ascending
	suffixLens []int
	cidr       map[netip.Prefix][]int32
	cidrBits   []int
	linear     []int32
}

// NewTable indexes rules; on a tie the rule earlier in the slice wins.
func NewTable(rules []*Rule) *Table {
	t := &Table{
		rules:  rules,
		exact:  map[string][]int32{},
		prefix: map[string][]int32{},
		suffix: map[string][]int32{},
		cidr:   map[netip.Prefix][]int32{},
	}
	for i, r := range rules {
		id := int32(i)
		switch r.kind {
		case matchExact:
			t.exact[r.host] = append(t.exact[r.host], id)
		case matchCIDR:
			t.cidr[r.prefix] = append(t.cidr[r.prefix], id)
			t.cidrBits = addLen(t.cidrBits, r.prefix.Bits())
		case matchGlob:
			g := r.glob
			switch {
			case len(g.prefix) > 0 && len(g.prefix) >= len(g.suffix):
				t.prefix[g.prefix] = append(t.prefix[g.prefix], id)
				t.prefixLens = addLen(t.prefixLens, len(g.prefix))
			case len(g.suffix) > 0:
				t.suffix[g.suffix] = append(t.suffix[g.suffix], id)
				t.suffixLens = addLen(t.suffixLens, len(g.suffix))
			default:
				t.linear = append(t.linear, id)
			}
		default:
			t.linear = append(t.linear, id)
		}
	}
	return t
}

func addLen(lens []int, n int) []int {
	i, found := slices.BinarySearch(lens, n)
	if found {
		return lens
	}
	return slices.Insert(lens, i, n)
}

// first returns the number of the earliest rule before limit, among those
// the indexes offer for host, that ok accepts; limit when there is none.
// ok is called for candidates in ascending order within each index, and
// never for a rule after the best found so far.
func (t *Table) first(host string, limit int32, ok func(*Rule) bool) int32 {
	best := limit
	try := func(ids []int32) {
		for _, id := range ids {
			if id >= best {
				return
			}
			if ok(t.rules[id]) {
				best = id
				return
			}
		}
	}
	try(t.exact[host])
	for _, n := range t.prefixLens {
		if n > len(host) {
			break
		}
		try(t.prefix[host[:n]])
	}
	for _, n := range t.suffixLens {
		if n > len(host) {
			break
		}
		try(t.suffix[host[len(host)-n:]])
	}
	if len(t.cidrBits) > 0 && maybeIP(host) {
		if ip, err := netip.ParseAddr(host); err == nil {
			ip = ip.Unmap()
			for _, bits := range t.cidrBits {
				if p, err := ip.Prefix(bits); err == nil {
					try(t.cidr[p])
				}
			}
		}
	}
	try(t.linear)
	return best
}

// matches reports whether r matches, filling m.
func (r *Rule) matches(host, port string, portNum int, m *matchResult) bool {
	*m = matchResult{host: host, port: port}
	if r.port != 0 && r.port != portNum {
		return false
	}
	switch r.kind {
	case matchExact:
		// The index compared the host.
	case matchCIDR:
		ip, err := netip.ParseAddr(host)
		if err != nil || !r.prefix.Contains(ip.Unmap()) {
			return false
		}
	case matchGlob:
		if !r.glob.match(host, &m.caps) {
			return false
		}
	case matchRegexp:
		g := r.re.FindStringSubmatch(net.JoinHostPort(host, port))
		if g == nil {
			return false
		}
		m.groups = g
	}
	if r.portCap >= 0 {
		m.caps[r.portCap] = port
	}
	return true
}

// maybeIP rules out host names cheaply: netip.ParseAddr allocates its error.
func maybeIP(host string) bool {
	if strings.IndexByte(host, ':') >= 0 {
		return true
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// A Match is the outcome of Table.Match.
type Match struct {
	Rule   *Rule  // the first rule that matches, or nil
	Index  int    // Rule's position in the slice given to NewTable; -1 for none
	Host   string // the host of the address asked for, as written
	Target string // where the dial goes: the rule's target, or the address itself
}

// Lookup finds the first rule, in written order, that matches addr
// (host:port) and the address that rule sends a dial to. With no matching
// rule it returns a nil *Rule and addr itself. Host names match case
// insensitively and without a trailing dot; IP addresses match in canonical
// form (IPv4-mapped IPv6 as IPv4, zones ignored).
//
// Lookup does not allocate unless the target is built from captures.
func (t *Table) Lookup(addr string) (*Rule, string, error) {
	m, err := t.Match(addr)
	return m.Rule, m.Target, err
}

// Match is Lookup that also says where the rule is in the table, for
// callers that keep per-rule state in a slice, and what the host was.
// When a target cannot be built (a computed port out of range), Match
// returns the rule and an error naming it.
func (t *Table) Match(addr string) (Match, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return Match{Index: -1}, err
	}
	portNum, err := strconv.Atoi(port)
	if err != nil || portNum < 0 || portNum > 65535 {
		return Match{Index: -1}, &net.AddrError{Err: "invalid port", Addr: addr}
	}
	key := canonicalHost(host)
	if strings.IndexByte(key, ':') >= 0 {
		// An IPv6 address, possibly with a zone that ends in a dot.
		if a, err := netip.ParseAddr(host); err == nil {
			key = canonicalIP(a)
		} else if a, err := netip.ParseAddr(key); err == nil {
			key = canonicalIP(a)
		}
	}
	var mr, cand matchResult
	id := t.first(key, int32(len(t.rules)), func(r *Rule) bool {
		// A later index may try (and fail) an earlier rule after a
		// match: keep the captures of the match in mr.
		if !r.matches(key, port, portNum, &cand) {
			return false
		}
		mr = cand
		return true
	})
	if id == int32(len(t.rules)) {
		return Match{Index: -1, Host: host, Target: addr}, nil
	}
	r := t.rules[id]
	m := Match{Rule: r, Index: int(id), Host: host}
	switch {
	case r.keep:
		m.Target = addr
	case r.literalTarget != "":
		m.Target = r.literalTarget
	default:
		if m.Target, err = r.target.expand(&mr); err != nil {
			return m, fmt.Errorf("%s: %w", r.source, err)
		}
	}
	return m, nil
}

// Rules returns the table's rules in written order.
func (t *Table) Rules() []*Rule { return t.rules }
