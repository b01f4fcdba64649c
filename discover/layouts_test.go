package discover

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// layouts are the compose files of testdata/compose, loaded with no
// variables set (each file's defaults), and what discovery finds in each:
// the rules, and how the host reaches each listener ("SERVICE/LISTENER").
var layouts = []struct {
	dir   string
	ok    bool
	rules []string
	reach map[string]Reach
}{
	{
		dir: "apache-single", ok: true,
		rules: []string{"localhost:9092 => 127.0.0.1:9092"},
		reach: map[string]Reach{"kafka/PLAINTEXT": ReachUnpublished, "kafka/PLAINTEXT_HOST": ReachPublished},
	},
	{
		dir: "apache-three", ok: true,
		rules: []string{"kafka-1:29092 => 127.0.0.1:19091", "kafka-2:29092 => 127.0.0.1:19092", "kafka-3:29092 => 127.0.0.1:19093"},
		reach: map[string]Reach{"kafka-1/INTERNAL": ReachPublished, "kafka-2/INTERNAL": ReachPublished, "kafka-3/INTERNAL": ReachPublished},
	},
	{
		dir: "bitnami-single", ok: true,
		rules: []string{"localhost:9094 => 127.0.0.1:9094"},
		reach: map[string]Reach{"kafka/PLAINTEXT": ReachUnpublished, "kafka/EXTERNAL": ReachPublished},
	},
	{
		dir: "bitnami-three", ok: true,
		rules: []string{"kafka-1:9092 => 127.0.0.1:19091", "kafka-2:9092 => 127.0.0.1:19092", "kafka-3:9092 => 127.0.0.1:19093"},
		reach: map[string]Reach{"kafka-1/PLAINTEXT": ReachPublished, "kafka-2/PLAINTEXT": ReachPublished, "kafka-3/PLAINTEXT": ReachPublished},
	},
	{
		dir: "cp-single", ok: true,
		rules: []string{"localhost:9092 => 127.0.0.1:9092"},
		reach: map[string]Reach{"broker/PLAINTEXT": ReachUnpublished, "broker/PLAINTEXT_HOST": ReachPublished},
	},
	{
		dir: "cp-three", ok: true,
		rules: []string{"localhost:19091 => 127.0.0.1:19091", "localhost:19092 => 127.0.0.1:19092", "localhost:19093 => 127.0.0.1:19093"},
		reach: map[string]Reach{"kafka-1/PLAINTEXT": ReachUnpublished, "kafka-1/PLAINTEXT_HOST": ReachPublished, "kafka-2/PLAINTEXT": ReachUnpublished, "kafka-2/PLAINTEXT_HOST": ReachPublished, "kafka-3/PLAINTEXT": ReachUnpublished, "kafka-3/PLAINTEXT_HOST": ReachPublished},
	},
	{
		dir: "dotenv", ok: false,
		rules: []string{},
		reach: map[string]Reach{"kafka-1/INTERNAL": ReachRandomPort, "kafka-2/INTERNAL": ReachRandomPort, "kafka-3/INTERNAL": ReachRandomPort},
	},
	{
		dir: "image-config", ok: true,
		rules: []string{"localhost:9092 => 127.0.0.1:9092"},
		reach: map[string]Reach{"kafka/PLAINTEXT": ReachPublished},
	},
	{
		dir: "kraft-isolated", ok: true,
		rules: []string{"broker-1:29092 => 127.0.0.1:19091", "broker-2:29092 => 127.0.0.1:19092", "broker-3:29092 => 127.0.0.1:19093"},
		reach: map[string]Reach{"broker-1/BROKER": ReachPublished, "broker-2/BROKER": ReachPublished, "broker-3/BROKER": ReachPublished},
	},
	{
		dir: "literal-host", ok: true,
		rules: []string{"\"_{HOSTNAME_COMMAND}\":29092 => 127.0.0.1:29092"},
		reach: map[string]Reach{"kafka/PLAINTEXT": ReachPublished},
	},
	{
		dir: "mounted-properties", ok: true,
		rules: []string{"localhost:9094 => 127.0.0.1:9094"},
		reach: map[string]Reach{"kafka/PLAINTEXT": ReachUnpublished, "kafka/EXTERNAL": ReachPublished},
	},
	{
		dir: "proxy-socat", ok: true,
		rules: []string{"kafka-proxy:29092 => 127.0.0.1:19092"},
		reach: map[string]Reach{"kafka/PLAINTEXT": ReachNamedService},
	},
	{
		dir: "proxy-toxiproxy", ok: true,
		rules: []string{"localhost:19092 => 127.0.0.1:19092"},
		reach: map[string]Reach{"kafka/PLAINTEXT": ReachUnpublished, "kafka/EXTERNAL": ReachProxy},
	},
	{
		dir: "redpanda", ok: true,
		rules: []string{"localhost:19092 => 127.0.0.1:19092"},
		reach: map[string]Reach{"redpanda-0/internal": ReachUnpublished, "redpanda-0/external": ReachPublished},
	},
	{
		dir: "redpanda-string", ok: true,
		rules: []string{"redpanda:9092 => 127.0.0.1:9092"},
		reach: map[string]Reach{"redpanda/(unnamed)": ReachPublished},
	},
	{
		dir: "wurstmeister", ok: true,
		rules: []string{"docker-machine.invalid:9092 => 127.0.0.1:9092"},
		reach: map[string]Reach{"kafka/PLAINTEXT": ReachPublished},
	},
	{
		dir: "wurstmeister-hostname-command", ok: true,
		rules: []string{"*:9094 => 127.0.0.1:9094"},
		reach: map[string]Reach{"kafka/INSIDE": ReachUnpublished, "kafka/OUTSIDE": ReachAnyHost},
	},
	{
		dir: "wurstmeister-port-command", ok: true,
		rules: []string{"docker-host.invalid => 127.0.0.1"},
		reach: map[string]Reach{"kafka/PLAINTEXT": ReachAnyPort},
	},
}

func TestLayouts(t *testing.T) {
	dirs, err := os.ReadDir("testdata/compose")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != len(layouts) {
		t.Errorf("testdata/compose holds %d layouts, the table %d", len(dirs), len(layouts))
	}
	for _, tc := range layouts {
		t.Run(tc.dir, func(t *testing.T) {
			res, err := Compose(t.Context(), filepath.Join("testdata/compose", tc.dir, "compose.yaml"), WithEnviron(nil))
			if err != nil {
				t.Fatal(err)
			}
			if res.OK() != tc.ok || !slices.Equal(res.Rules(), tc.rules) {
				t.Errorf("ok %v, rules %q; want %v, %q", res.OK(), res.Rules(), tc.ok, tc.rules)
			}
			got := map[string]Reach{}
			for _, s := range res.Services {
				for _, l := range s.Listeners {
					got[s.Name+"/"+l.Name] = l.Reach
					if l.Reach.Reachable() != l.Reachable() || l.Reachable() != (l.Rule != "") {
						t.Errorf("%s/%s: reach %s, Reachable %v, rule %q", s.Name, l.Name, l.Reach, l.Reachable(), l.Rule)
					}
					if l.Explain() == "" || strings.Contains(l.Explain(), "%!") {
						t.Errorf("%s/%s: explanation %q", s.Name, l.Name, l.Explain())
					}
				}
			}
			for k, want := range tc.reach {
				if got[k] != want {
					t.Errorf("%s: %s, want %s", k, got[k], want)
				}
			}
			if len(got) != len(tc.reach) {
				t.Errorf("listeners %v, want %v", got, tc.reach)
			}
		})
	}
}

// The layouts are copies of cmd/kafkadial's, whose tests prove them with
// brokers and the integration suite on a real engine: in the repository,
// they are the same files.
func TestLayoutsSameAsCommand(t *testing.T) {
	cmd := filepath.Join("..", "cmd", "kafkadial", "testdata", "compose")
	if _, err := os.Stat(cmd); err != nil {
		t.Skipf("no %s here: %v", cmd, err)
	}
	err := filepath.WalkDir("testdata/compose", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel("testdata/compose", p)
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(cmd, rel))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from cmd/kafkadial's copy (%v)", rel, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReach: the codes of the listeners the host cannot reach, one small
// project per case.
func TestReach(t *testing.T) {
	for _, tc := range []struct {
		name, compose string
		opts          []Option
		want          Reach
	}{
		{"published", svc("k", "PLAINTEXT://k:9092", "", `ports: ["19092:9092"]`), nil, ReachPublished},
		{"host network", svc("k", "PLAINTEXT://k:9092", "", `network_mode: host`), nil, ReachHostNetwork},
		{"its own host port", svc("k", "EXTERNAL://localhost:9092", "EXTERNAL://:9094", `ports: ["9092:9094"]`), nil, ReachPublished},
		{"a proxy's host port", svc("k", "EXTERNAL://localhost:9092", "EXTERNAL://:9094", `ports: []`) + "  edge:\n    image: nginx\n    ports: [\"9092:9092\"]\n", nil, ReachProxy},
		{"any host", svc("k", "PLAINTEXT://:9092", "", `ports: ["9092:9092"]`), nil, ReachAnyHost},
		{"unpublished", svc("k", "PLAINTEXT://k:9092", "", `ports: []`), nil, ReachUnpublished},
		{"random", svc("k", "PLAINTEXT://k:9092", "", `ports: ["9092"]`), nil, ReachRandomPort},
		{"range", svc("k", "PLAINTEXT://k:9092", "", `ports: [{target: 9092, published: "9000-9010"}]`), nil, ReachPortRange},
		{"remote loopback", svc("k", "PLAINTEXT://k:9092", "", `ports: ["127.0.0.1:9092:9092"]`), []Option{WithPublishedAddress("198.18.0.5")}, ReachRemoteLoopback},
		{"meta-address", svc("k", "PLAINTEXT://0.0.0.0:9092", "", `ports: ["9092:9092"]`), nil, ReachMetaAddress},
		{"not bound", svc("k", "OTHER://k:9093", "PLAINTEXT://:9092", `ports: ["9093:9093"]`, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT"), nil, ReachNotBound},
		{"no rule", svc("k", "PLAINTEXT://bad#host:9092", "", `ports: ["9092:9092"]`), nil, ReachNoRule},
		{"port shared", svc("a", "PLAINTEXT://:9092", "", `ports: ["9092:9092"]`) + svcBody("j", "PLAINTEXT://j:9092", "", `ports: ["19092:9092"]`), nil, ReachPortShared},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "compose.yaml")
			if err := os.WriteFile(f, []byte(tc.compose), 0o600); err != nil {
				t.Fatal(err)
			}
			res, err := Compose(t.Context(), f, append([]Option{WithEnviron(nil)}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			l := res.Services[0].Listeners[0]
			if l.Reach != tc.want || l.Reachable() != tc.want.Reachable() {
				t.Errorf("reach %s (reachable %v), want %s: %s", l.Reach, l.Reachable(), tc.want, l.Explain())
			}
		})
	}
}

// A project that does not load is a *LoadError holding compose-go's
// cause and warnings, its text free of control characters.
func TestLoadError(t *testing.T) {
	f := filepath.Join(t.TempDir(), "com\x1bpose.yaml")
	if err := os.WriteFile(f, []byte("services:\n  k:\n    image: x\n    environment:\n      A: ${NOPE?must be set}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Compose(t.Context(), f, WithEnviron(nil))
	var le *LoadError
	if res != nil || !errors.As(err, &le) || !strings.Contains(err.Error(), `com\x1bpose.yaml`) || !strings.Contains(err.Error(), "must be set") {
		t.Fatalf("Compose = %v, %v; want a *LoadError with the cause escaped", res, err)
	}
	if _, err := Compose(t.Context(), f, WithPublishedAddress("198.18.0.1:9092")); err == nil || !strings.Contains(err.Error(), "WithPublishedAddress") {
		t.Errorf("a bad option: %v", err)
	}
}
