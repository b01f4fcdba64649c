package discover

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/kafkadial/kafkadial/dialer"
)

// FuzzCompose loads arbitrary compose files and checks what Project
// derives: the rules and the pass rules load as one rule set; no rule
// takes a bootstrap address or another broker's address elsewhere; and
// each rule sends its own advertised address to its published one.
func FuzzCompose(f *testing.F) {
	env := types.Mapping{"KAFKA_1_PORT": "19091", "KAFKA_2_PORT": "19092", "KAFKA_3_PORT": "19093", "KAFKA_HOST_PORT": "9092", "KAFKA_VERSION": "3.9.1", "BROKER_NAME": "b"}
	dirs, err := os.ReadDir("testdata/compose")
	if err != nil {
		f.Fatal(err)
	}
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join("testdata/compose", d.Name(), "compose.yaml"))
		if err != nil {
			f.Fatal(err)
		}
		if why := costlyForLoader(b, env); why != "" {
			f.Fatalf("%s: the fuzz target would not load it: %s", d.Name(), why)
		}
		f.Add(b)
	}
	f.Add([]byte(svc("k", "SSL://[::1]:9093,X://:1", "X://:2", `ports: ["1-3:1-3", {target: 2, published: "x"}]`, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: X:SSL,SSL:SSL")))
	f.Add([]byte(svc("k", "A://h:1", "", `network_mode: "service:k"`)))
	f.Add([]byte("services:\n  k:\n    image: x\n    environment: [KAFKA_CFG_LISTENERS]\n"))
	f.Add([]byte("services:\n  k:\n    image: x\n    command: [kafka-server-start.sh, /c/broker.properties, --override, \"advertised.listeners=A://_{HOSTNAME_COMMAND}:1\"]\n    volumes: [\"./conf:/c\"]\n    ports: [\"1:1\"]\n"))
	f.Add([]byte("services:\n  k:\n    image: x\n    ports: [\"9092\"]\n    volumes: [\"/var/run/docker.sock:/var/run/docker.sock\"]\n    environment:\n      HOSTNAME_COMMAND: x\n      KAFKA_ADVERTISED_HOST_NAME: a.b\n      KAFKA_ADVERTISED_PORT: _{PORT_COMMAND}\n"))
	dir := f.TempDir()
	// The files services mount come from memory: no disk read per input.
	files := memFiles{
		filepath.Join(dir, "server.properties"):      "process.roles=broker\nlisteners=A://:1,B://:2\nadvertised.listeners=A://a:1,B://*:2\nlistener.security.protocol.map=A:SSL,B:PLAINTEXT\n",
		filepath.Join(dir, "conf/broker.properties"): "listeners=A://:1\nadvertised.listeners=A://h:1\n",
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if costlyForLoader(data, env) != "" {
			return
		}
		var p *types.Project
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("compose-go panicked: %v", r)
				}
			}()
			_, release := captureComposeLog() // no logging per input
			defer release()
			p, err = loader.LoadWithContext(context.Background(), types.ConfigDetails{
				WorkingDir:  dir,
				ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: data}},
				Environment: env,
			}, func(o *loader.Options) { o.SetProjectName("fuzz", true); o.ResolvePaths = false })
			return err
		}()
		if err != nil {
			return // the loader refuses it: from-compose reports the error
		}
		res, err := Project(p, WithPublishedAddress("127.0.0.1"), withHostFiles(files))
		if err != nil {
			t.Fatal(err)
		}
		out := strings.Join(append(slices.Clone(res.Rules()), res.PassRules()...), "\n")
		d, err := dialer.New(dialer.WithRules(out))
		if err != nil {
			t.Fatalf("derived rules do not load: %v\n%s", err, out)
		}
		defer d.Close()
		n := 0
		for _, s := range res.Services {
			for _, l := range s.Listeners {
				if l.Rule != "" {
					n++
				}
			}
		}
		if n != len(res.Rules()) {
			t.Fatalf("%d listeners with a rule for %d rules:\n%s", n, len(res.Rules()), out)
		}
		for _, a := range res.Bootstrap() {
			if rt, err := d.Route(a); err != nil || rt.Target != a {
				t.Fatalf("bootstrap %s goes to %s (%v):\n%s", a, rt.Target, err, out)
			}
		}
		owner := map[string]string{} // advertised address -> where its rule sends it
		for _, s := range res.Services {
			for _, l := range s.Listeners {
				if l.Rule == "" || l.Computed() != "" || l.Host == "" || l.Port < 0 {
					continue
				}
				owner[net.JoinHostPort(l.Host, strconv.Itoa(l.Port))] = l.Published
			}
		}
		for _, s := range res.Services {
			for _, l := range s.Listeners {
				switch {
				case l.Rule != "" && l.Port < 0:
					// A host-only rule: any port stays.
					if rt, err := d.Route(net.JoinHostPort(l.Host, "40000")); err != nil || !strings.HasSuffix(rt.Target, ":40000") || rt.Rule == "" {
						t.Fatalf("%s: %s:40000 goes to %s (%v):\n%s", l.Rule, l.Host, rt.Target, err, out)
					}
				case l.Rule != "" && l.Computed() != "":
					// A port-only rule: any host goes to the published port.
					if rt, err := d.Route(net.JoinHostPort("any.invalid", strconv.Itoa(l.Port))); err != nil || rt.Target != l.Published {
						t.Fatalf("%s: any.invalid:%d goes to %s (%v):\n%s", l.Rule, l.Port, rt.Target, err, out)
					}
				case l.Host != "" && l.Port >= 0 && l.Computed() == "":
					a := net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
					rt, err := d.Route(a)
					if err != nil {
						continue // an address no dial could take, such as an empty host
					}
					if want, ok := owner[a]; ok && rt.Target != want || !ok && rt.Rule != "" {
						t.Fatalf("%s (service %s, listener %s, rule %q) goes to %s by %s:\n%s", a, s.Name, l.Name, l.Rule, rt.Target, rt.Rule, out)
					}
				}
			}
		}
	})
}

// costlyForLoader says why compose-go would spend far longer on data than
// its size suggests, or "". compose-go expands a container port range into
// one port per number (1-65535 takes it over a second), so a fuzzer that
// keeps such an input in its corpus measures compose-go instead of this
// command, at a few executions a second. Files outside memory (/dev,
// /proc, /sys: env_file or include of /dev/zero never ends) are not read.
// Nesting and service chains grow quadratically; the size bound keeps them
// small.
func costlyForLoader(data []byte, env types.Mapping) string {
	const maxSize = 16 << 10
	if len(data) > maxSize {
		return "larger than 16 KiB"
	}
	text := string(data)
	for _, dev := range []string{"/dev", "/proc", "/sys"} {
		if strings.Contains(text, dev) {
			return "names " + dev
		}
	}
	// Variables as the loader would substitute them, roughly: enough to
	// see the numbers a range is made of.
	text = os.Expand(text, func(name string) string {
		name, _, _ = strings.Cut(strings.TrimPrefix(name, "{"), ":")
		return env[strings.Trim(name, "{}")]
	})
	for i := 0; i < len(text); i++ {
		if text[i] != '-' {
			continue
		}
		lo, hi := numberBefore(text, i), numberAfter(text, i+1)
		if lo >= 0 && hi >= 0 && hi-lo > 256 {
			return fmt.Sprintf("a port range %d-%d", lo, hi)
		}
	}
	return ""
}

func numberBefore(s string, i int) int {
	j := i
	for j > 0 && s[j-1] >= '0' && s[j-1] <= '9' {
		j--
	}
	n, err := strconv.Atoi(s[j:i])
	if err != nil || i-j > 6 {
		return -1
	}
	return n
}

func numberAfter(s string, i int) int {
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(s[i:j])
	if err != nil || j-i > 6 {
		return -1
	}
	return n
}

func TestCostlyForLoader(t *testing.T) {
	env := types.Mapping{"P": "19091"}
	for _, tc := range []struct {
		data string
		want string
	}{
		{`ports: ["1-3:1-3", "9092:9092", "127.0.0.1:19092:29092"]`, ""},
		{`ports: ["1-65535:1-65535"]`, "a port range 1-65535"},
		{`ports: ["1 - 2000"]`, ""}, // not a range compose-go reads
		{`ports: ["1-${P}"]`, "a port range 1-19091"},
		{`ports: ["1-${P:-2}:1-${P}"]`, "a port range 1-19091"},
		{`env_file: /dev/zero`, "names /dev"},
		{"x-a: " + strings.Repeat("a", 16<<10), "larger than 16 KiB"},
		{"services:\n  kafka-1:\n    image: apache/kafka:3.9.1\n", ""},
	} {
		if got := costlyForLoader([]byte(tc.data), env); got != tc.want {
			t.Errorf("%.40q: %q, want %q", tc.data, got, tc.want)
		}
	}
}
