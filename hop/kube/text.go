package kube

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This module keeps its own copies of the core's small text and address
// helpers (internal/safetext and internal/netx), which it may not import:
// internal packages promise nothing across module versions. text_test.go
// keeps the copies in step with the core's.

// printable returns s for an error message: as it is when it holds no
// control characters, line or paragraph separators (U+2028, U+2029) or
// invalid UTF-8, else with them escaped as Go would quote them (without the
// quotes), so that no message echoes raw control bytes from its input or
// breaks its line.
func printable(s string) string {
	for i, r := range s {
		// RuneError is a byte of invalid UTF-8 unless s holds U+FFFD itself there.
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' ||
			r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") {
			q := strconv.Quote(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

// printableError shows an error from client-go with its control bytes
// escaped, and keeps it for errors.Is and errors.As.
type printableError struct{ err error }

func (e printableError) Error() string { return printable(e.err.Error()) }
func (e printableError) Unwrap() error { return e.err }

// parsePort parses a TCP port from 1 to 65535, written in decimal digits.
func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("bad port %q: expected a number from 1 to 65535", s)
	}
	return n, nil
}

// addr is a net.Addr for a host:port that may be a name.
type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }
