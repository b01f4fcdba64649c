package rules

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// References a template part may make besides capture slots.
const (
	refHost = -2 // {host}: the host asked for
	refPort = -3 // {port}: the port asked for
	refLit  = -1
)

type tmplPart struct {
	lit    string
	ref    int // refLit, refHost, refPort or a capture slot / regexp group
	offset int // added to a numeric reference ({port+1000})
	arith  bool
}

// template is a rule's target: host and, unless the port is kept, port.
type template struct {
	host    []tmplPart
	port    []tmplPart // nil: keep the port asked for
	bracket bool       // the host is an IPv6 literal in brackets
	quoted  bool       // the host was quoted: literal, unchecked
}

// literal returns the target when it has no references.
func (t *template) literal() (string, bool) {
	host, ok := partsLiteral(t.host)
	if !ok || t.port == nil {
		return host, ok
	}
	port, ok := partsLiteral(t.port)
	return net.JoinHostPort(host, port), ok
}

// parseTemplate parses a target. names maps capture names to slots; re is
// the rule's regexp, whose groups $1 and ${name} may also be used.
func parseTemplate(s string, names map[string]int, re *regexp.Regexp) (*template, error) {
	host, port, portOff := s, "", -1
	t := &template{}
	if strings.HasPrefix(s, `"`) {
		// A quoted host is literal; only the port may hold references.
		h, p, off, err := splitQuoted(s)
		if err != nil {
			return nil, err
		}
		t.host, t.quoted = []tmplPart{{lit: h, ref: refLit}}, true
		if p == "" && off == 0 {
			return t, nil
		}
		if t.port, err = parseParts(p, names, re); err != nil {
			return nil, shift(err, off)
		}
		if lit, ok := partsLiteral(t.port); ok {
			if _, err := parsePort(lit); err != nil {
				return nil, errAt(off, "%v", err)
			}
		}
		return t, nil
	}
	if strings.HasPrefix(s, "[") {
		j := strings.IndexByte(s, ']')
		if j < 0 {
			return nil, errAt(0, "missing ] in target %q", s)
		}
		t.bracket = true
		host = s[1:j]
		switch rest := s[j+1:]; {
		case rest == "":
		case rest[0] != ':':
			return nil, errAt(j+1, "unexpected %q after ]: expected :port", rest)
		default:
			port, portOff = rest[1:], j+2
		}
	} else {
		depth, colon := 0, -1
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '{':
				depth++
			case '}':
				depth--
			case ':':
				if depth > 0 {
					continue
				}
				if colon >= 0 {
					return nil, errAt(0, "IPv6 target must be written in brackets, as [addr]:port")
				}
				colon = i
			}
		}
		if colon >= 0 {
			host, port, portOff = s[:colon], s[colon+1:], colon+1
		}
	}
	off := 0
	if t.bracket {
		off = 1
	}
	if host == "" {
		return nil, errAt(off, "expected a host in target %q", s)
	}
	var err error
	if t.host, err = parseParts(host, names, re); err != nil {
		return nil, shift(err, off)
	}
	if portOff >= 0 {
		if port == "" {
			return nil, errAt(portOff, "expected a port after ':'")
		}
		if t.port, err = parseParts(port, names, re); err != nil {
			return nil, shift(err, portOff)
		}
		if lit, ok := partsLiteral(t.port); ok {
			if _, err := parsePort(lit); err != nil {
				return nil, errAt(portOff, "%v", err)
			}
		}
	}
	// A literal host is checked now; one with references, its literal
	// text now and the whole when it is rendered.
	_, literal := partsLiteral(t.host)
	for i, p := range t.host {
		if !literal && p.ref == refLit && !targetHostText(p.lit, t.bracket) {
			return nil, errAt(off+partOffset(host, t.host, i), "bad text %q in target host", p.lit)
		}
	}
	if lit, ok := partsLiteral(t.host); ok {
		a, err := netip.ParseAddr(lit)
		switch {
		case t.bracket && (err != nil || !a.Is6()):
			return nil, errAt(off, "bad IPv6 address %q in target", lit)
		case err == nil && a.Is6() && !t.bracket:
			return nil, errAt(0, "IPv6 target must be written in brackets, as [addr]:port")
		case err != nil && (checkHostChars(lit) != nil || strings.ContainsAny(lit, "*{}")):
			return nil, errAt(off, "bad host %q in target", lit)
		}
	}
	return t, nil
}

func shift(err error, by int) error {
	if oe, ok := err.(*offsetError); ok {
		return &offsetError{oe.off + by, oe.err}
	}
	return err
}

func partsLiteral(ps []tmplPart) (string, bool) {
	var b strings.Builder
	for _, p := range ps {
		if p.ref != refLit {
			return "", false
		}
		b.WriteString(p.lit)
	}
	return b.String(), true
}

// parseParts splits a target into literal text and references: {name},
// {name+N}, {name-N}, and for regexp rules $1, ${1}, $name, ${name}; $$ is a
// literal '$'.
func parseParts(s string, names map[string]int, re *regexp.Regexp) ([]tmplPart, error) {
	var (
		parts []tmplPart
		lit   strings.Builder
	)
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, tmplPart{lit: lit.String(), ref: refLit})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, errAt(i, "missing } in target")
			}
			p, err := parseRef(s[i+1:i+end], names, re)
			if err != nil {
				return nil, errAt(i, "%v", err)
			}
			flush()
			parts = append(parts, p)
			i += end
		case c == '}':
			return nil, errAt(i, "unexpected } in target")
		case c == '$' && re != nil:
			if i+1 < len(s) && s[i+1] == '$' {
				lit.WriteByte('$')
				i++
				continue
			}
			var name string
			j := i + 1
			switch {
			case j < len(s) && s[j] == '{':
				end := strings.IndexByte(s[j:], '}')
				if end < 0 {
					return nil, errAt(i, "missing } after ${")
				}
				name = s[j+1 : j+end]
				j += end + 1
			case j < len(s) && '0' <= s[j] && s[j] <= '9':
				for j < len(s) && '0' <= s[j] && s[j] <= '9' {
					j++
				}
				name = s[i+1 : j]
			default:
				for j < len(s) && (s[j] == '_' || 'a' <= s[j] && s[j] <= 'z' || 'A' <= s[j] && s[j] <= 'Z' || j > i+1 && '0' <= s[j] && s[j] <= '9') {
					j++
				}
				name = s[i+1 : j]
			}
			p, err := regexpRef(name, names, re)
			if err != nil {
				return nil, errAt(i, "%v", err)
			}
			flush()
			parts = append(parts, p)
			i = j - 1
		case c == '$':
			return nil, errAt(i, "$ references are for ~regexp rules; use {name} here")
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return parts, nil
}

func regexpRef(name string, names map[string]int, re *regexp.Regexp) (tmplPart, error) {
	if name == "" {
		return tmplPart{}, fmt.Errorf("expected a group number or name after $")
	}
	if n, err := strconv.Atoi(name); err == nil {
		if n < 0 || n > re.NumSubexp() {
			return tmplPart{}, fmt.Errorf("$%s: the regexp has %d groups", name, re.NumSubexp())
		}
		return tmplPart{ref: n}, nil
	}
	if slot, ok := names[name]; ok {
		return tmplPart{ref: slot}, nil
	}
	return tmplPart{}, fmt.Errorf("${%s}: the regexp has no group named %q", name, name)
}

func parseRef(expr string, names map[string]int, re *regexp.Regexp) (tmplPart, error) {
	name, off := expr, ""
	if i := strings.IndexAny(expr, "+-"); i >= 0 {
		name, off = expr[:i], expr[i:]
	}
	p := tmplPart{}
	switch {
	case name == "host":
		p.ref = refHost
	case name == "port":
		p.ref = refPort
	default:
		slot, ok := names[name]
		if !ok {
			if n, err := strconv.Atoi(name); err == nil && re != nil && n >= 0 && n <= re.NumSubexp() {
				slot, ok = n, true
			}
		}
		if !ok {
			if !isIdent(name) {
				return p, fmt.Errorf("bad reference {%s}: expected {name}, {name+N} or {name-N}", expr)
			}
			return p, fmt.Errorf("{%s} is not captured by the match (known: %s)", name, knownNames(names))
		}
		p.ref = slot
	}
	if off != "" {
		n, err := strconv.Atoi(off)
		if err != nil || len(off) < 2 || off[1] < '0' || off[1] > '9' {
			return p, fmt.Errorf("bad arithmetic in {%s}: expected {name+N} or {name-N}", expr)
		}
		p.offset, p.arith = n, true
	}
	return p, nil
}

func knownNames(names map[string]int) string {
	out := []string{"{host}", "{port}"}
	for n := range names {
		out = append(out, "{"+n+"}")
	}
	slices.Sort(out[2:])
	return strings.Join(out, ", ")
}

// expand renders the target for a match.
func (t *template) expand(m *matchResult) (string, error) {
	var buf [64]byte
	b := buf[:0]
	if t.bracket {
		b = append(b, '[')
	}
	var err error
	start := len(b)
	if b, err = appendParts(b, t.host, m); err != nil {
		return "", err
	}
	if h := b[start:]; !t.quoted && (len(h) == 0 || !targetHostText(string(h), t.bracket)) {
		return "", fmt.Errorf("target host %q is not a host name or address", h)
	}
	if t.bracket {
		b = append(b, ']')
	}
	b = append(b, ':')
	if t.port == nil {
		b = append(b, m.port...)
		return string(b), nil
	}
	start = len(b)
	if b, err = appendParts(b, t.port, m); err != nil {
		return "", err
	}
	if _, err := parsePort(string(b[start:])); err != nil {
		return "", fmt.Errorf("target %s: %w", b, err)
	}
	return string(b), nil
}

func appendParts(b []byte, ps []tmplPart, m *matchResult) ([]byte, error) {
	for _, p := range ps {
		if p.ref == refLit {
			b = append(b, p.lit...)
			continue
		}
		v := m.get(p.ref)
		if !p.arith {
			b = append(b, v...)
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("arithmetic on %q, which is not a number", v)
		}
		b = strconv.AppendInt(b, int64(n+p.offset), 10)
	}
	return b, nil
}

// targetHostText reports whether s can be (part of) a target host: the
// letters, digits, '-', '_' and '.' of host names and IPv4 addresses, or,
// in brackets, the hex digits, ':' and '.' of an IPv6 address.
func targetHostText(s string, bracket bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9', c == '.':
		case bracket && ('a' <= c|0x20 && c|0x20 <= 'f' || c == ':'):
		case !bracket && ('a' <= c|0x20 && c|0x20 <= 'z' || c == '-' || c == '_'):
		default:
			return false
		}
	}
	return true
}

// partOffset is the byte offset of part i in the text it was parsed from:
// the literal parts are found in order.
func partOffset(text string, ps []tmplPart, i int) int {
	off := 0
	for j := 0; j <= i; j++ {
		if ps[j].ref != refLit {
			continue
		}
		k := strings.Index(text[off:], ps[j].lit)
		if k < 0 {
			return 0
		}
		if j == i {
			return off + k
		}
		off += k + len(ps[j].lit)
	}
	return 0
}
