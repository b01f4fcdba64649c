package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// maxWildcards bounds the wildcards of one host pattern; more than a handful
// is a sign of a mistake, and the bound keeps matching cheap.
const maxWildcards = 8

type matchKind uint8

const (
	matchExact  matchKind = iota // literal host name or canonical IP
	matchGlob                    // host with * or {name}
	matchCIDR                    // IP prefix
	matchRegexp                  // ~regexp over host:port
)

// A Rule is one parsed rule: a match, a target and the hops to dial it
// through. Rules are immutable once parsed; a Table matches them.
type Rule struct {
	source string // "rules.txt:3"
	file   string // "rules.txt"
	line   int
	col    int // of the match

	kind   matchKind
	host   string       // matchExact: canonical host
	glob   *glob        // matchGlob
	prefix netip.Prefix // matchCIDR
	re     *regexp.Regexp
	text   string // the match as written, for messages

	port    int // 0: any port
	portCap int // slot of a {name} in the port position; -1: none

	keep          bool      // target "=": dial the address as asked
	target        *template // nil when keep
	targetText    string    // the target as written
	literalTarget string    // the target when it has no references and names a port

	via []Hop
}

// A Hop is one entry of a rule's via list, as written.
type Hop struct {
	Text string // a name registered with the dialer, or a URL (scheme://...)
	Col  int    // 1-based byte column in the rule's line
}

// Source names where the rule was written, as "file:line" ("rules.txt:3").
func (r *Rule) Source() string { return r.source }

// File is the name of the rule's source: a file name, "KAFKADIAL_RULES" or
// the name given with the text.
func (r *Rule) File() string { return r.file }

// Line and Col give the 1-based position of the rule's match.
func (r *Rule) Line() int { return r.line }

// Col is the 1-based byte column of the rule's match.
func (r *Rule) Col() int { return r.col }

// Match returns the rule's match as written, e.g. "kafka-{id}:29092".
func (r *Rule) Match() string { return r.text }

// Target returns the rule's target as written; "=" keeps the address.
func (r *Rule) Target() string {
	if r.keep {
		return "="
	}
	return r.targetText
}

// Keep reports whether the rule dials the address as asked (target "=").
func (r *Rule) Keep() bool { return r.keep }

// Via returns the rule's hops in dialling order (first hop first); nil
// when the rule dials directly.
func (r *Rule) Via() []Hop { return r.via }

// Parse parses rule text from source (a file name or another label that
// errors and Rule.Source name). It returns every rule it could parse and
// every error it found, in the order written, so that a checker can report
// them all; callers that need one error take the first.
func Parse(source, text string) ([]*Rule, []*Error) {
	var (
		rules []*Rule
		errs  []*Error
	)
	for lineNo, line := range strings.Split(text, "\n") {
		toks := tokenize(line)
		// Split the line's tokens into rules at ';'.
		start := 0
		for i := 0; i <= len(toks); i++ {
			if i < len(toks) && toks[i].text != ";" {
				continue
			}
			if i > start {
				r, err := parseRule(source, lineNo+1, toks[start:i])
				if err != nil {
					errs = append(errs, err)
				} else {
					rules = append(rules, r)
				}
			}
			start = i + 1
		}
	}
	return rules, errs
}

type token struct {
	text string
	col  int // 1-based byte column
}

// tokenize splits a line at white space and ';', dropping a comment that
// starts with '#' at the beginning of a token.
func tokenize(line string) []token {
	var toks []token
	i := 0
	for i < len(line) {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f':
			i++
		case c == '#':
			return toks
		case c == ';':
			toks = append(toks, token{";", i + 1})
			i++
		default:
			j := i
			for j < len(line) && !strings.ContainsRune(" \t\r\v\f;", rune(line[j])) {
				j++
			}
			toks = append(toks, token{line[i:j], i + 1})
			i = j
		}
	}
	return toks
}

func parseRule(source string, line int, toks []token) (*Rule, *Error) {
	fail := func(col int, format string, args ...any) *Error {
		return &Error{Source: source, Line: line, Col: col, Err: fmt.Errorf(format, args...)}
	}
	m := toks[0]
	r := &Rule{source: source + ":" + strconv.Itoa(line), file: source, line: line, col: m.col, portCap: -1}
	if m.text == "=>" {
		return nil, fail(m.col, "expected an address pattern before =>")
	}
	names, err := r.parseMatch(m.text)
	if err != nil {
		return nil, posErr(source, line, m.col, err)
	}
	rest := toks[1:]
	if len(rest) > 0 && rest[0].text == "=>" {
		rest = rest[1:]
	}
	if len(rest) == 0 {
		end := toks[len(toks)-1]
		return nil, fail(end.col+len(end.text), "expected a target after %q", m.text)
	}
	t := rest[0]
	if t.text == "via" {
		return nil, fail(t.col, "expected a target before via (use = to keep the address)")
	}
	if t.text == "=" {
		r.keep = true
	} else {
		tmpl, err := parseTemplate(t.text, names, r.re)
		if err != nil {
			return nil, posErr(source, line, t.col, err)
		}
		r.target, r.targetText = tmpl, t.text
		if lit, ok := tmpl.literal(); ok && tmpl.port != nil {
			r.literalTarget = lit
		}
	}
	rest = rest[1:]
	if len(rest) == 0 {
		return r, nil
	}
	if rest[0].text != "via" {
		return nil, fail(rest[0].col, "unexpected %q: expected the end of the rule, ';' or 'via HOP'", rest[0].text)
	}
	if len(rest) == 1 {
		return nil, fail(rest[0].col+len("via"), "expected a hop after via")
	}
	hops := rest[1:]
	sep := true // a ',' stands between the previous hop and the next
	for ti, tok := range hops {
		parts := strings.Split(tok.text, ",")
		off := 0
		for pi, part := range parts {
			col := tok.col + off
			off += len(part) + 1
			if part == "" {
				leading := pi == 0 && ti > 0 && len(parts) > 1     // "a ,b"
				trailing := pi == len(parts)-1 && ti < len(hops)-1 // "a, b"
				if !leading && !trailing {
					return nil, fail(col, "empty hop in via list")
				}
				sep = true
				continue
			}
			if !sep {
				return nil, fail(col, "expected ',' between hops")
			}
			r.via = append(r.via, Hop{Text: part, Col: col})
			sep = pi < len(parts)-1
		}
	}
	if len(r.via) == 0 {
		return nil, fail(rest[1].col, "expected a hop after via")
	}
	return r, nil
}

// posErr turns an error carrying an offset into a Error.
func posErr(source string, line, col int, err error) *Error {
	var oe *offsetError
	if errors.As(err, &oe) {
		col += oe.off
		err = oe.err
	}
	return &Error{Source: source, Line: line, Col: col, Err: err}
}

// offsetError is an error at a byte offset within a token.
type offsetError struct {
	off int
	err error
}

func (e *offsetError) Error() string { return e.err.Error() }

func errAt(off int, format string, args ...any) error {
	return &offsetError{off, fmt.Errorf(format, args...)}
}

// parseMatch fills the match part of r and returns the names a target may
// refer to, mapped to their capture slots.
func (r *Rule) parseMatch(s string) (map[string]int, error) {
	r.text = s
	if strings.HasPrefix(s, "~") {
		if len(s) == 1 {
			return nil, errAt(1, "expected a regular expression after ~")
		}
		re, err := regexp.Compile(s[1:])
		if err != nil {
			return nil, errAt(1, "bad regular expression: %w", err)
		}
		r.kind, r.re = matchRegexp, re
		names := map[string]int{}
		for i, n := range re.SubexpNames() {
			if n != "" {
				names[n] = i
			}
		}
		return names, nil
	}

	var (
		host, port string
		portOff    int
		err        error
		names      = map[string]int{}
	)
	if strings.HasPrefix(s, `"`) {
		host, port, portOff, err = splitQuoted(s)
	} else {
		host, port, portOff, err = splitPattern(s)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(s, `"`):
		r.kind, r.host = matchExact, canonicalHost(host)
	case strings.Contains(host, "/"):
		text := host
		if strings.HasPrefix(text, "[") {
			text = strings.Replace(text[1:], "]", "", 1)
		}
		p, err := netip.ParsePrefix(text)
		if err != nil {
			return nil, errAt(0, "bad CIDR prefix %q: %w", host, err)
		}
		if p.Addr().Zone() != "" {
			return nil, errAt(0, "CIDR prefix %q has a zone", host)
		}
		if p.Addr().Is6() && !strings.HasPrefix(host, "[") {
			return nil, errAt(0, "IPv6 prefix must be written in brackets, as [%s]/%d", p.Addr(), p.Bits())
		}
		r.kind, r.prefix = matchCIDR, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p)).Masked()
	case strings.HasPrefix(host, "["):
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() {
			return nil, errAt(1, "bad IPv6 address %q", host[1:len(host)-1])
		}
		r.kind, r.host = matchExact, canonicalIP(a)
	default:
		if a, err := netip.ParseAddr(host); err == nil {
			r.kind, r.host = matchExact, canonicalIP(a)
			break
		}
		g, err := parseGlob(host)
		if err != nil {
			return nil, err
		}
		if g == nil {
			r.kind, r.host = matchExact, canonicalHost(host)
			break
		}
		r.kind, r.glob = matchGlob, g
		for i, n := range g.names {
			if n != "" {
				names[n] = i
			}
		}
	}

	switch {
	case port == "" || port == "*":
	case strings.HasPrefix(port, "{"):
		name, ok := captureName(port)
		if !ok {
			return nil, errAt(portOff, "bad capture %q: expected {name}", port)
		}
		if err := checkCaptureName(name, names); err != nil {
			return nil, errAt(portOff, "%v", err)
		}
		slot := 0
		if r.glob != nil {
			slot = len(r.glob.names)
		}
		r.portCap = slot
		names[name] = slot
	default:
		n, err := parsePort(port)
		if err != nil {
			return nil, errAt(portOff, "%v", err)
		}
		r.port = n
	}
	return names, nil
}

func unmapBits(p netip.Prefix) int {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return 96
	}
	return 0
}

// splitQuoted splits a token that starts with a quoted literal host:
// "host" or "host":port. Inside the quotes no character is special; a
// quote, ':', '[', ']' and control characters cannot appear (white space
// and ';' end the token before the quote does).
func splitQuoted(s string) (host, port string, portOff int, err error) {
	end := strings.IndexByte(s[1:], '"')
	if end < 0 {
		return "", "", 0, errAt(0, "missing closing '\"' after the quoted host %q", s)
	}
	host, rest := s[1:1+end], s[2+end:]
	if host == "" {
		return "", "", 0, errAt(0, "empty quoted host")
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c < 0x20 || c == 0x7f || c == ':' || c == '[' || c == ']' {
			return "", "", 0, errAt(1+i, "unexpected %q in a quoted host (it is taken literally and cannot hold ':', '[', ']' or control characters; write an IPv6 address as [addr])", rune(c))
		}
	}
	switch {
	case rest == "":
		return host, "", 0, nil
	case rest[0] != ':':
		return "", "", 0, errAt(2+end, "unexpected %q after the quoted host: expected :port", rest)
	case len(rest) == 1:
		return "", "", 0, errAt(3+end, "expected a port after ':'")
	}
	return host, rest[1:], 3 + end, nil
}

// QuoteHost returns host written so that a rule takes it literally: as it
// is when it is a plain host name or IP address, in double quotes when it
// holds characters the rule language gives a meaning to ('*', '{', '}',
// '~', '=', ...). It fails for a host that no rule can name: empty, or
// holding a quote, ':', '[', ']', '#', white space, ';' or control
// characters.
func QuoteHost(host string) (string, error) {
	if host == "" {
		return "", errors.New("empty host")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Is6() {
			// Rules ignore zones: the address alone matches them all.
			return "[" + a.WithZone("").String() + "]", nil
		}
		return host, nil
	}
	plain := host != "=" && !strings.HasPrefix(host, "~") && !strings.ContainsAny(host, "*{}") && checkHostChars(host) == nil
	if plain {
		return host, nil
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c <= ' ' || c == 0x7f || strings.IndexByte("\":;#[]", c) >= 0 {
			return "", fmt.Errorf("host %q holds %q, which no rule can name", host, rune(c))
		}
	}
	return `"` + host + `"`, nil
}

// splitPattern splits "host[:port]" where host may be "[v6]" or "[v6]/bits".
func splitPattern(s string) (host, port string, portOff int, err error) {
	if s == "" {
		return "", "", 0, errAt(0, "empty address pattern")
	}
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", 0, errAt(0, "missing ] in %q", s)
		}
		host, rest := s[:end+1], s[end+1:]
		if strings.HasPrefix(rest, "/") {
			i := strings.IndexByte(rest, ':')
			if i < 0 {
				i = len(rest)
			}
			host, rest = host+rest[:i], rest[i:]
		}
		switch {
		case rest == "":
			return host, "", 0, nil
		case rest[0] != ':':
			return "", "", 0, errAt(len(host), "unexpected %q after %s: expected :port", rest, host)
		case len(rest) == 1:
			return "", "", 0, errAt(len(host)+1, "expected a port after ':'")
		}
		return host, rest[1:], len(host) + 1, nil
	}
	switch strings.Count(s, ":") {
	case 0:
		return s, "", 0, nil
	case 1:
		i := strings.IndexByte(s, ':')
		if i == 0 {
			return "", "", 0, errAt(0, "expected a host before ':'")
		}
		if i == len(s)-1 {
			return "", "", 0, errAt(i+1, "expected a port after ':'")
		}
		return s[:i], s[i+1:], i + 1, nil
	}
	return "", "", 0, errAt(0, "IPv6 address must be written in brackets, as [addr] or [addr]:port")
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 || s[0] == '+' {
		return 0, fmt.Errorf("bad port %q: expected a number from 1 to 65535, * or {name}", s)
	}
	return n, nil
}

func captureName(s string) (string, bool) {
	if len(s) < 3 || s[0] != '{' || s[len(s)-1] != '}' {
		return "", false
	}
	name := s[1 : len(s)-1]
	return name, isIdent(name)
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}

func checkCaptureName(name string, seen map[string]int) error {
	switch {
	case name == "host" || name == "port":
		return fmt.Errorf("{%s} is predefined; pick another capture name", name)
	case seen != nil:
		if _, dup := seen[name]; dup {
			return fmt.Errorf("capture {%s} appears twice", name)
		}
	}
	return nil
}

func canonicalIP(a netip.Addr) string { return a.Unmap().WithZone("").String() }

// canonicalHost lowercases a host name and drops one trailing dot. It does
// not allocate when the name is already lower case.
func canonicalHost(h string) string {
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			// ASCII only: strings.ToLower would turn bytes that are not
			// UTF-8 into U+FFFD, and two hosts into one.
			b := []byte(h)
			for j := i; j < len(b); j++ {
				b[j] = lower(b[j])
			}
			return string(b)
		}
	}
	return h
}
