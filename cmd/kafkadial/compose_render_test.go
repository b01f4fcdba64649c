package main

import (
	"strings"
	"testing"

	"github.com/kafkadial/kafkadial/dialer"
)

// FuzzComposeRender renders results holding arbitrary text where a
// compose file or an engine puts text (file and service names, images,
// settings, explanations): the output is a rules file whose only lines
// are comments, the rules and the pass rules, with no control byte but
// the newlines.
func FuzzComposeRender(f *testing.F) {
	f.Add("compose.yaml", "kafka", "apac\x7fe/kafka:3.9.1", "KAFKA_NOD:_ID", "kafka:9092", "listener\u2028PLAINTEXT")
	f.Add("a\nb", "s\r", "\x1b[31m", "\xff", "h:1", "\u2029")
	f.Fuzz(func(t *testing.T, file, service, image, setting, advertised, note string) {
		res := &composeResult{
			Files:     []string{file},
			Rules:     []string{"k:9092 => 127.0.0.1:19092"},
			Bootstrap: []string{"127.0.0.1:19092"},
			keep:      []string{"127.0.0.1:19092 => ="},
			Services: []serviceResult{
				{Service: service, Image: image, Role: "controller", Roles: setting},
				{Service: service, Image: image, Role: "broker", Read: []string{file}, Assumed: []string{setting}, Problems: []string{note},
					Listeners: []listenerResult{
						{Advertised: "k:9092", Rule: "k:9092 => 127.0.0.1:19092", Note: note},
						{Advertised: advertised, Note: note},
					}},
			},
		}
		for _, unit := range []string{"service", "container"} {
			var b strings.Builder
			writeComposeRules(&b, res, "from-compose", unit)
			out := b.String()
			for _, r := range out {
				if r < ' ' && r != '\n' || r == 0x7f || r >= 0x80 && r < 0xa0 || r == '\u2028' || r == '\u2029' || r == '\uFFFD' && !strings.ContainsRune(file+service+image+setting+advertised+note, '\uFFFD') {
					t.Fatalf("%U in the output:\n%q", r, out)
				}
			}
			rules := 0
			for _, line := range strings.Split(out, "\n") {
				if line != "" && !strings.HasPrefix(line, "#") {
					rules++
				}
			}
			if rules != 2 {
				t.Fatalf("%d lines that are not comments, want the rule and the pass rule:\n%s", rules, out)
			}
			if _, err := dialer.Check(dialer.WithNamedRules("derived", out)); err != nil {
				t.Fatalf("the output does not load: %v\n%s", err, out)
			}
		}
	})
}
