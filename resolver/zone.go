package resolver

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// DefaultTTL is the TTL of zone records written without one (and with no
// $TTL before them).
const DefaultTTL = 60

// ZoneError reports a problem in zone data: where it is and what is wrong.
// New returns it as a *ZoneError. Line and Col are where the zone parser
// stopped (Col is at the end of the offending token); they are 0 when the
// problem is not tied to one place (two records in conflict, for example),
// and Name then says which owner name is involved.
type ZoneError struct {
	Source    string // the file name, or "zone" for WithZone text
	Line, Col int    // 1-based
	Name      string // the owner name involved, when known
	Err       error  // the parser's *dns.ParseError, or what is wrong
}

func (e *ZoneError) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.Name != "" {
		b.WriteString(e.Name)
		b.WriteString(": ")
	}
	b.WriteString(zoneErrText(e.Err))
	return b.String()
}

func (e *ZoneError) Unwrap() error { return e.Err }

// The parser's messages end in ` at line: L:C` and may start with "FILE: ".
var parseErrPos = regexp.MustCompile(` at line: (\d+):(\d+)$`)

func zoneErrText(err error) string {
	var pe *dns.ParseError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	s := parseErrPos.ReplaceAllString(pe.Error(), "")
	if i := strings.Index(s, "dns: "); i >= 0 {
		s = s[i+len("dns: "):]
	}
	return s
}

// node holds the records of one owner name.
type node struct {
	name  string // canonical: lower case, fully qualified
	rrs   map[uint16][]dns.RR
	all   []dns.RR // every record, in the order written (for ANY)
	cname *dns.CNAME
}

// zone is the local data: every record given by WithZone, WithZoneFile and
// WithRecords, indexed by owner name.
type zone struct {
	nodes map[string]*node
	ents  map[string]bool     // empty non-terminals: ancestors of owners that own nothing
	soas  map[string]*dns.SOA // zone apexes, by owner
	neg   map[string]*dns.SOA // the SOA to put in negative answers, TTL = min(TTL, MINIMUM)
}

func newZone() *zone {
	return &zone{
		nodes: map[string]*node{},
		ents:  map[string]bool{},
		soas:  map[string]*dns.SOA{},
		neg:   map[string]*dns.SOA{},
	}
}

// parse reads zone text. Relative names are taken relative to the root, so
// "kafka-3 A 127.0.0.1" is the single-label name kafka-3. Records without
// a TTL and no $TTL before them get DefaultTTL. $INCLUDE is not allowed.
func (z *zone) parse(source string, r io.Reader) error {
	zp := dns.NewZoneParser(r, ".", source)
	zp.SetDefaultTTL(DefaultTTL)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if err := z.add(source, rr); err != nil {
			return err
		}
	}
	if err := zp.Err(); err != nil {
		ze := &ZoneError{Source: source, Err: err}
		if m := parseErrPos.FindStringSubmatch(err.Error()); m != nil {
			ze.Line, _ = strconv.Atoi(m[1])
			ze.Col, _ = strconv.Atoi(m[2])
		}
		return ze
	}
	return nil
}

// supported lists the record types the resolver serves from local data.
var supported = map[uint16]bool{
	dns.TypeA: true, dns.TypeAAAA: true, dns.TypeCNAME: true, dns.TypeSRV: true,
	dns.TypeSOA: true, dns.TypeNS: true, dns.TypeTXT: true, dns.TypePTR: true,
}

func (z *zone) add(source string, rr dns.RR) error {
	if rr == nil {
		return &ZoneError{Source: source, Err: errors.New("nil record")}
	}
	h := rr.Header()
	name := canonical(h.Name)
	fail := func(format string, args ...any) error {
		return &ZoneError{Source: source, Name: h.Name, Err: fmt.Errorf(format, args...)}
	}
	if _, ok := dns.IsDomainName(h.Name); !ok || name == "" {
		return fail("bad owner name")
	}
	if h.Class != dns.ClassINET {
		return fail("class %s: only IN is served", dns.ClassToString[h.Class])
	}
	if !supported[h.Rrtype] {
		return fail("type %s is not served (A, AAAA, CNAME, SRV, SOA, NS, TXT, PTR are)", dns.TypeToString[h.Rrtype])
	}
	if err := packs(rr); err != nil {
		return fail("%s record does not encode: %v", dns.TypeToString[h.Rrtype], err)
	}
	n := z.nodes[name]
	if n == nil {
		n = &node{name: name, rrs: map[uint16][]dns.RR{}}
		z.nodes[name] = n
	}
	switch v := rr.(type) {
	case *dns.CNAME:
		if n.cname != nil && canonical(n.cname.Target) != canonical(v.Target) {
			return fail("two CNAME records (to %s and %s)", n.cname.Target, v.Target)
		}
		if canonical(v.Target) == name {
			return fail("CNAME to itself")
		}
		n.cname = v
	case *dns.SOA:
		if old := z.soas[name]; old != nil {
			return fail("two SOA records")
		}
		z.soas[name] = v
		neg := dns.Copy(v).(*dns.SOA)
		neg.Hdr.Ttl = min(v.Hdr.Ttl, v.Minttl)
		z.neg[name] = neg
	case *dns.SRV:
		if _, ok := dns.IsDomainName(v.Target); !ok {
			return fail("bad SRV target %q", v.Target)
		}
	}
	for _, old := range n.rrs[h.Rrtype] {
		if dns.IsDuplicate(old, rr) {
			return nil
		}
	}
	n.rrs[h.Rrtype] = append(n.rrs[h.Rrtype], rr)
	n.all = append(n.all, rr)
	if n.cname != nil && len(n.all) > len(n.rrs[dns.TypeCNAME]) {
		return fail("CNAME and other records at the same name (RFC 1034 3.6.2)")
	}
	return nil
}

// packs checks that a record can go on the wire (the parser accepts some
// that cannot, such as an A record with no address).
func packs(rr dns.RR) error {
	buf := make([]byte, dns.Len(rr)+256)
	if _, err := dns.PackRR(rr, buf, 0, nil, false); err != nil {
		return err
	}
	if rr.Header().Rdlength == 0 {
		return errors.New("no data")
	}
	return nil
}

// finish computes the empty non-terminals once every record is in.
func (z *zone) finish() {
	for name := range z.nodes {
		for p := parent(name); p != ""; p = parent(p) {
			if _, ok := z.nodes[p]; ok {
				continue
			}
			z.ents[p] = true
		}
	}
}

// negSOA returns the SOA of the closest enclosing zone apex, for the
// authority section of a negative answer, or nil.
func (z *zone) negSOA(name string) *dns.SOA {
	if len(z.neg) == 0 {
		return nil
	}
	for n := name; n != ""; n = parent(n) {
		if s := z.neg[n]; s != nil {
			return s
		}
	}
	return nil
}

// canonical is the key of a name: lower case and fully qualified.
func canonical(name string) string {
	if name == "" {
		return ""
	}
	if name[len(name)-1] != '.' {
		name += "."
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			return asciiLower(name)
		}
	}
	return name
}

// asciiLower folds A-Z only: DNS names compare case-insensitively in ASCII
// (RFC 4343) and may hold any byte, which strings.ToLower would turn into
// U+FFFD when it is not UTF-8, changing (and lengthening) the name.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// parent returns the name one label up ("b.c." for "a.b.c.", "." for "c.",
// "" for "."), honouring escaped dots.
func parent(name string) string {
	if name == "." || name == "" {
		return ""
	}
	for i := 0; i < len(name)-1; i++ {
		switch name[i] {
		case '\\':
			i++ // skip the escaped character (\. or the first digit of \DDD)
		case '.':
			return name[i+1:]
		}
	}
	return "."
}
