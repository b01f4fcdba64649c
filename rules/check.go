package rules

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/kafkadial/kafkadial/internal/safetext"
)

// FindingKind says what kind of problem a Finding reports.
type FindingKind uint8

const (
	// FindingSyntax: the text does not parse. dialer.New refuses it.
	FindingSyntax FindingKind = iota + 1
	// FindingHop: a via hop that a dialer cannot build (an unknown name, a
	// bad URL or an unknown scheme). dialer.Check reports these; dialer.New
	// refuses them.
	FindingHop
	// FindingShadowed: an earlier rule matches every address this rule
	// matches, so this one never takes a dial. dialer.New accepts it.
	FindingShadowed
	// FindingSource: a rule file could not be read (Line and Col are 0).
	FindingSource
)

func (k FindingKind) String() string {
	switch k {
	case FindingSyntax:
		return "syntax"
	case FindingHop:
		return "hop"
	case FindingShadowed:
		return "shadowed"
	case FindingSource:
		return "source"
	}
	return "FindingKind(" + strconv.Itoa(int(k)) + ")"
}

// A Finding is one problem found in rules (by Shadowed, or by dialer.Check,
// which adds syntax, hop and source findings).
type Finding struct {
	Kind      FindingKind
	Source    string // the file name, "KAFKADIAL_RULES", or the name given with the text
	Line, Col int    // 1-based position of the problem (for FindingShadowed, the rule's match)
	// By is, for FindingShadowed, the rule that takes every address this
	// one matches, as Route.Rule names it ("rules.txt:1").
	By  string
	Err error // what is wrong, without the position
}

// Error formats the finding as "source:line:col: message", the form editors
// and compilers use.
func (f Finding) Error() string {
	src, msg := safetext.Printable(f.Source), safetext.Printable(f.Err.Error())
	if f.Line == 0 {
		return fmt.Sprintf("%s: %s", src, msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", src, f.Line, f.Col, msg)
}

func (f Finding) Unwrap() error { return f.Err }

// Shadowed reports, as FindingShadowed findings in the order written, each
// rule that can never match because an earlier rule matches every address
// it matches.
//
// The analysis is sound but not complete: a reported rule never matches,
// while a rule that is covered only by several earlier rules together, or
// by a ~regexp rule over a range of ports, goes unreported.
func Shadowed(rules []*Rule) []Finding {
	// Exact rules, usually the bulk of a large file, are compared only with
	// the rules the table's index offers for their host; other rules with
	// every earlier rule that is not exact.
	t := NewTable(rules)
	var (
		findings []Finding
		nonExact []int32
	)
	for i, b := range rules {
		id := int32(i)
		var by *Rule
		if b.kind == matchExact {
			by = t.firstCovering(b, id)
		} else {
			for _, j := range nonExact {
				if covers(rules[j], b) {
					by = rules[j]
					break
				}
			}
			nonExact = append(nonExact, id)
		}
		if by == nil {
			continue
		}
		findings = append(findings, Finding{
			Kind: FindingShadowed, Source: b.file, Line: b.line, Col: b.col, By: by.source,
			Err: shadowErr(by, b),
		})
	}
	return findings
}

func shadowErr(by, b *Rule) error {
	if matchText(by) == matchText(b) {
		return fmt.Errorf("rule %q never matches: %s has the same match and comes first", b.text, by.source)
	}
	return fmt.Errorf("rule %q never matches: %s (%s) matches every address it matches and comes first", b.text, by.source, by.text)
}

// matchText is a rule's match in canonical form.
func matchText(r *Rule) string {
	var host string
	switch r.kind {
	case matchExact:
		host = r.host
		if q, err := QuoteHost(host); err == nil && !strings.HasPrefix(q, "[") {
			host = q
		}
	case matchGlob:
		host = r.glob.text
	case matchCIDR:
		host = r.prefix.String()
	case matchRegexp:
		return "~" + r.re.String()
	}
	switch {
	case r.port != 0:
		return host + ":" + strconv.Itoa(r.port)
	}
	return host + ":*"
}

// firstCovering returns the first rule before id that covers the exact rule
// b, looking only at the rules the index offers for b's host.
func (t *Table) firstCovering(b *Rule, id int32) *Rule {
	best := t.first(b.host, id, func(a *Rule) bool { return covers(a, b) })
	if best == id {
		return nil
	}
	return t.rules[best]
}

// covers reports whether rule a matches every address rule b matches. It
// errs on the side of false: true is a proof, false may be a miss.
func covers(a, b *Rule) bool {
	// Ports: b's any-port (0) needs a's any-port.
	if a.port != 0 && a.port != b.port {
		return false
	}
	switch a.kind {
	case matchExact:
		return b.kind == matchExact && a.host == b.host
	case matchCIDR:
		switch b.kind {
		case matchExact:
			ip, err := netip.ParseAddr(b.host)
			return err == nil && a.prefix.Contains(ip)
		case matchCIDR:
			return a.prefix.Bits() <= b.prefix.Bits() && a.prefix.Contains(b.prefix.Addr())
		}
		return false
	case matchGlob:
		switch b.kind {
		case matchExact:
			var caps [maxWildcards + 1]string
			return a.glob.match(b.host, &caps)
		case matchGlob:
			// b's wildcards can put any host character right after its
			// prefix and before its suffix, so a's literal ends must lie
			// within b's.
			if !strings.HasPrefix(b.glob.prefix, a.glob.prefix) || !strings.HasSuffix(b.glob.suffix, a.glob.suffix) {
				return false
			}
			return globCovers(globTokens(a.glob), globTokens(b.glob))
		case matchCIDR:
			// Only a bare "*" is sure to match every IPv4 address;
			// no glob matches an IPv6 one (they hold ':').
			return b.prefix.Addr().Is4() && isStarOnly(a.glob)
		}
		return false
	case matchRegexp:
		switch b.kind {
		case matchRegexp:
			return a.re.String() == b.re.String()
		case matchExact:
			// One address only when b names its port.
			return b.port != 0 && a.re.MatchString(net.JoinHostPort(b.host, strconv.Itoa(b.port)))
		}
	}
	return false
}

func isStarOnly(g *glob) bool {
	return g.prefix == "" && g.suffix == "" && len(g.names) == 1 && g.names[0] == ""
}

// A glob token is a literal byte (kind 0), '*' (any run without ':') or a
// capture (a non-empty run without '.' or ':').
type globTok struct {
	kind byte // 0 literal, '*' star, '+' capture
	c    byte
}

func globTokens(g *glob) []globTok {
	var toks []globTok
	lit := func(s string) {
		for i := 0; i < len(s); i++ {
			toks = append(toks, globTok{c: s[i]})
		}
	}
	lit(g.prefix)
	for i, n := range g.names {
		if i > 0 {
			lit(g.mid[i-1])
		}
		if n == "" {
			toks = append(toks, globTok{kind: '*'})
		} else {
			toks = append(toks, globTok{kind: '+'})
		}
	}
	lit(g.suffix)
	return toks
}

// globCovers reports whether pattern a matches every string pattern b
// matches, by aligning each token of a with a run of b's tokens whose
// strings it surely matches.
func globCovers(a, b []globTok) bool {
	// memo holds, for a[i:] covering b[j:], 0 unknown, 1 false, 2 true;
	// state s=1 means a[i] is a capture that already took a token.
	w := len(b) + 1
	memo := make([]uint8, 2*(len(a)+1)*w)
	var f func(i, j, s int) bool
	f = func(i, j, s int) bool {
		k := (s*(len(a)+1)+i)*w + j
		if memo[k] != 0 {
			return memo[k] == 2
		}
		var ok bool
		switch {
		case s == 1:
			// a[i] is a capture holding a token: stop, or take one more.
			ok = f(i+1, j, 0) || j < len(b) && captureTakes(b[j]) && f(i, j+1, 1)
		case i == len(a):
			ok = j == len(b)
		case a[i].kind == 0:
			ok = j < len(b) && b[j].kind == 0 && b[j].c == a[i].c && f(i+1, j+1, 0)
		case a[i].kind == '*':
			ok = f(i+1, j, 0) || j < len(b) && !(b[j].kind == 0 && b[j].c == ':') && f(i, j+1, 0)
		default:
			ok = j < len(b) && captureTakes(b[j]) && f(i, j+1, 1)
		}
		memo[k] = 1
		if ok {
			memo[k] = 2
		}
		return ok
	}
	return f(0, 0, 0)
}

// captureTakes reports whether every string of t is non-empty and free of
// '.' and ':', as a capture's text must be.
func captureTakes(t globTok) bool {
	switch t.kind {
	case 0:
		return t.c != '.' && t.c != ':'
	case '+':
		return true
	}
	return false
}
