package safetext

import "testing"

func TestPrintable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"kafka-1:29092", "kafka-1:29092"},
		{`a "quoted" \ text`, `a "quoted" \ text`}, // nothing to escape: as it is
		{"héllo, 世界 \uFFFD", "héllo, 世界 \uFFFD"},
		{"a\nb", `a\nb`},
		{"tab\there", `tab\there`},
		{"\x1b[31mred", `\x1b[31mred`},
		{"del\x7f", `del\x7f`},
		{"nel\u0085", `nel\u0085`},
		{"bad \xff byte", `bad \xff byte`},
		{"line\u2028sep", `line\u2028sep`},
		{"para\u2029sep", `para\u2029sep`},
		{"both \"q\"\n", `both \"q\"\n`},             // escaped: quoted as Go quotes
		{"cut \xef\xbf short", `cut \xef\xbf short`}, // U+FFFD's first two bytes: invalid
		{"\uFFFD and \x00", "\uFFFD and \\x00"},      // quoted; U+FFFD itself stays, so quoting again changes nothing
	} {
		if got := Printable(tc.in); got != tc.want {
			t.Errorf("Printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\u2028", "\xff", "x\x1by"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Printable(s)
		for _, r := range out {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
				t.Fatalf("Printable(%q) = %q holds %U", s, out, r)
			}
		}
		if out != s && Printable(out) != out {
			t.Fatalf("Printable(%q) = %q is not printable itself", s, out)
		}
	})
}
