package discover

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// printableCases is the table every copy of safetext.Printable is checked
// against (the core's internal/safetext, cmd/kafkadial's and this one): the same
// inputs and outputs in each module's test.
var printableCases = []struct{ in, want string }{
	{"", ""},
	{"kafka-1:29092", "kafka-1:29092"},
	{`a "quoted" \ text`, `a "quoted" \ text`},
	{"héllo, 世界 \uFFFD", "héllo, 世界 \uFFFD"},
	{"a\nb", `a\nb`},
	{"cr\rlf", `cr\rlf`},
	{"tab\there", `tab\there`},
	{"nul\x00", `nul\x00`},
	{"\x1b[31mred", `\x1b[31mred`},
	{"del\x7f", `del\x7f`},
	{"nel\u0085", `nel\u0085`},
	{"c1\u009f", `c1\u009f`},
	{"nbsp\u00a0ok", "nbsp\u00a0ok"},
	{"bad \xff byte", `bad \xff byte`},
	{"line\u2028sep", `line\u2028sep`},
	{"para\u2029sep", `para\u2029sep`},
	{"both \"q\"\n", `both \"q\"\n`},
}

func TestPrintable(t *testing.T) {
	for _, tc := range printableCases {
		if got := printable(tc.in); got != tc.want {
			t.Errorf("printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The copy's body is the core's, when the repository holds it: a change
// to internal/safetext.Printable must reach this copy too.
func TestPrintableSameAsCore(t *testing.T) {
	core, err := os.ReadFile(filepath.Join("..", "internal", "safetext", "safetext.go"))
	if err != nil {
		t.Skipf("the core's internal/safetext is not here (%v): the table alone keeps the copies in step", err)
	}
	mine, err := os.ReadFile("safetext.go")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := funcBody(t, string(core), "func Printable("), funcBody(t, string(mine), "func printable("); a != b {
		t.Errorf("printable differs from internal/safetext.Printable:\n%s\nwant\n%s", b, a)
	}
}

// funcBody is the text of the function opening with sig, from its
// opening brace to the closing one at the start of a line.
func funcBody(t *testing.T, src, sig string) string {
	t.Helper()
	i := strings.Index(src, sig)
	if i < 0 {
		t.Fatalf("no %s", sig)
	}
	src = src[i:]
	j := strings.Index(src, "\n}\n")
	if j < 0 {
		t.Fatalf("%s: no end", sig)
	}
	return src[strings.Index(src, "{"):j]
}
