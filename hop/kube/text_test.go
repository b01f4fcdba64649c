package kube

import (
	"testing"

	"github.com/kafkadial/kafkadial/internal/netx"
	"github.com/kafkadial/kafkadial/internal/safetext"
)

// The copies in text.go behave as the core's internal/safetext and
// internal/netx, which this module may not import outside its tests: a
// fixed table, and the core's answers on it.
func TestCopiesInStep(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"é ünïcode ✓", "é ünïcode ✓"},
		{"tab\there", `tab\there`},
		{"line\nbreak\r", `line\nbreak\r`},
		{"esc\x1b[31m", `esc\x1b[31m`},
		{"del\x7f", `del\x7f`},
		{"nul\x00", `nul\x00`},
		{"c1\u0085", `c1\u0085`},
		{"ls\u2028ps\u2029", `ls\u2028ps\u2029`},
		{"bad\xffutf8", `bad\xffutf8`},
		{`quote" and \ backslash`, `quote" and \ backslash`},
		{`quote" and \ backslash` + "\n", `quote\" and \\ backslash\n`},
	} {
		if got := printable(c.in); got != c.want {
			t.Errorf("printable(%q) = %q, want %q", c.in, got, c.want)
		}
		if core := safetext.Printable(c.in); core != printable(c.in) {
			t.Errorf("printable(%q) = %q, the core's safetext.Printable %q: bring the copy in step", c.in, printable(c.in), core)
		}
	}
	for _, s := range []string{"1", "9092", "65535", "0", "65536", "+1", "-1", "", "x", "080", " 1", "99999999999999999999"} {
		n, err := parsePort(s)
		cn, cerr := netx.ParsePort(s)
		if n != cn || (err == nil) != (cerr == nil) || err != nil && err.Error() != cerr.Error() {
			t.Errorf("parsePort(%q) = %d, %v; the core's netx.ParsePort %d, %v", s, n, err, cn, cerr)
		}
	}
	if a, c := addr("p.n:9092"), netx.Addr("p.n:9092"); a.Network() != c.Network() || a.String() != c.String() {
		t.Errorf("addr %s %s, the core's %s %s", a.Network(), a, c.Network(), c)
	}
}
