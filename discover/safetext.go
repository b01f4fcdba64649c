package discover

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// printable returns s for an error message: as it is when it holds no
// control characters, line or paragraph separators (U+2028, U+2029) or
// invalid UTF-8, else with them escaped as Go would quote them (without
// the quotes). It is a copy of the core module's internal safetext.Printable
// (a module cannot import another's internal packages); TestPrintable
// keeps the two in step through a table both modules check.
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
