package rules

import (
	"fmt"
	"regexp"
	"strings"
)

// glob is a host pattern with wildcards: '*' matches any run of characters
// (possibly empty) except ':', and {name} captures a non-empty part of one
// label (no '.' or ':').
type glob struct {
	text   string   // canonical (lower case, no trailing dot)
	prefix string   // literal text before the first wildcard
	suffix string   // literal text after the last wildcard
	names  []string // one per wildcard, "" for '*'
	// mid is the literal text between wildcards; len(mid) == len(names)-1.
	mid []string
	// re matches patterns with more than one wildcard, where a scan could
	// backtrack; RE2 keeps it linear in the host's length.
	re *regexp.Regexp
}

// parseGlob parses a host pattern. It returns nil, nil for a pattern without
// wildcards, which is an exact host.
func parseGlob(s string) (*glob, error) {
	if err := checkHostChars(s); err != nil {
		return nil, err
	}
	g := &glob{}
	var (
		lits []string
		cur  strings.Builder
		seen = map[string]int{}
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*':
			lits = append(lits, cur.String())
			cur.Reset()
			g.names = append(g.names, "")
		case '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, errAt(i, "missing } in capture")
			}
			name, ok := captureName(s[i : i+end+1])
			if !ok {
				return nil, errAt(i, "bad capture %q: expected {name} with a name of letters, digits and _", s[i:i+end+1])
			}
			if err := checkCaptureName(name, seen); err != nil {
				return nil, errAt(i, "%v", err)
			}
			seen[name] = len(g.names)
			lits = append(lits, cur.String())
			cur.Reset()
			g.names = append(g.names, name)
			i += end
		case '}':
			return nil, errAt(i, "unexpected }")
		default:
			cur.WriteByte(lower(c))
		}
	}
	if len(g.names) == 0 {
		return nil, nil
	}
	if len(g.names) > maxWildcards {
		return nil, errAt(0, "too many wildcards in %q (at most %d)", s, maxWildcards)
	}
	lits = append(lits, strings.TrimSuffix(cur.String(), "."))
	g.prefix, g.suffix = lits[0], lits[len(lits)-1]
	g.mid = lits[1 : len(lits)-1]
	var b strings.Builder
	b.WriteString(g.prefix)
	for i, n := range g.names {
		if i > 0 {
			b.WriteString(g.mid[i-1])
		}
		if n == "" {
			b.WriteString("*")
		} else {
			fmt.Fprintf(&b, "{%s}", n)
		}
	}
	b.WriteString(g.suffix)
	g.text = b.String()
	if len(g.names) > 1 {
		var re strings.Builder
		re.WriteString("^")
		re.WriteString(regexp.QuoteMeta(g.prefix))
		for i, n := range g.names {
			if i > 0 {
				re.WriteString(regexp.QuoteMeta(g.mid[i-1]))
			}
			if n == "" {
				re.WriteString("([^:]*)")
			} else {
				re.WriteString("([^.:]+)")
			}
		}
		re.WriteString(regexp.QuoteMeta(g.suffix))
		re.WriteString("$")
		g.re = regexp.MustCompile(re.String())
	}
	return g, nil
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// checkHostChars accepts the characters of host names and patterns.
func checkHostChars(s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._*{}", c) >= 0:
		default:
			return errAt(i, "unexpected %q in host pattern (a host is letters, digits, '-', '_' and '.'; '*' and {name} are wildcards; ~ starts a regexp)", rune(c))
		}
	}
	if strings.Contains(s, "..") || strings.HasPrefix(s, ".") {
		return errAt(0, "empty label in host pattern %q", s)
	}
	return nil
}

// match reports whether host (canonical) matches, recording each wildcard's
// text in caps. It does not allocate for patterns with one wildcard.
func (g *glob) match(host string, caps *[maxWildcards + 1]string) bool {
	if g.re != nil {
		if !strings.HasPrefix(host, g.prefix) || !strings.HasSuffix(host, g.suffix) {
			return false
		}
		m := g.re.FindStringSubmatch(host)
		if m == nil {
			return false
		}
		copy(caps[:], m[1:])
		return true
	}
	if len(host) < len(g.prefix)+len(g.suffix) ||
		!strings.HasPrefix(host, g.prefix) || !strings.HasSuffix(host, g.suffix) {
		return false
	}
	w := host[len(g.prefix) : len(host)-len(g.suffix)]
	if g.names[0] == "" {
		if strings.IndexByte(w, ':') >= 0 {
			return false
		}
	} else if w == "" || strings.ContainsAny(w, ".:") {
		return false
	}
	caps[0] = w
	return true
}
