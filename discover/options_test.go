package discover

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kafkadial/kafkadial/resolver/docker"
)

// Bad options, and a single-valued one given twice with different values,
// are refused by Compose, Project and Docker with an error naming the
// option, whatever the order.
func TestOptionErrorsNameTheOption(t *testing.T) {
	for _, c := range []struct {
		opts []Option
		want string
	}{
		{[]Option{WithPublishedAddress("127.0.0.1:9092")}, `discover: WithPublishedAddress: "127.0.0.1:9092": want an IP address or a host name, without a port`},
		{[]Option{WithContainers("kafka", "/")}, "discover: WithContainers: an empty name"},
		{[]Option{WithPublishedAddress("127.0.0.1"), WithPublishedAddress("docker-host")}, "discover: WithPublishedAddress given twice with different values: options apply in any order, so give it once"},
		{[]Option{WithPublishedAddress("127.0.0.1"), WithPublishedAddress("[127.0.0.1]")}, "discover: WithPublishedAddress given twice with different values"},
		{[]Option{WithProjectDir("a"), WithProjectDir("")}, "discover: WithProjectDir given twice with different values"},
		{[]Option{WithProjectName("a"), WithProjectName("b")}, "discover: WithProjectName given twice with different values"},
		{[]Option{WithEnviron(nil), WithEnviron([]string{"A=1"})}, "discover: WithEnviron given twice with different values"},
		{[]Option{WithEnviron(nil), WithEnviron(nil)}, "discover: WithEnviron given twice with different values"},
		{[]Option{WithComposeProject("a"), WithComposeProject("b")}, "discover: WithComposeProject given twice with different values"},
	} {
		for name, discover := range map[string]func(...Option) error{
			"Compose": func(o ...Option) error {
				_, err := Compose(context.Background(), "nosuch.yaml", o...)
				return err
			},
			"Project": func(o ...Option) error { _, err := Project(&types.Project{}, o...); return err },
			"Docker":  func(o ...Option) error { _, err := Docker(docker.Snapshot{}, o...); return err },
		} {
			for _, opts := range [][]Option{c.opts, reversed(c.opts)} {
				if err := discover(opts...); err == nil || !strings.HasPrefix(err.Error(), c.want) {
					t.Errorf("%s: error %v, want one starting %q", name, err, c.want)
				}
			}
		}
	}
}

// The same value twice is no conflict, and the options that take lists
// add up in the order given.
func TestOptionsSameValueAndLists(t *testing.T) {
	opts := []Option{
		nil, WithPublishedAddress("docker-host"), WithPublishedAddress("docker-host"),
		WithProjectDir("dir"), WithProjectDir("dir"), WithProjectName("p"), WithProjectName("p"),
		WithComposeProject("p"), WithComposeProject("p"),
		WithFiles("a.yaml"), WithFiles("b.yaml", "c.yaml"), WithEnvFiles("a.env"), WithEnvFiles("b.env"),
		WithProfiles("x"), WithProfiles("y"), WithContainers("k1"), WithContainers("k2"), nil,
	}
	if _, err := Project(&types.Project{}, opts...); err != nil {
		t.Fatalf("Project: %v", err)
	}
	c, err := newConfig(opts)
	if err != nil {
		t.Fatal(err)
	}
	if *c.address != "docker-host" || c.projectDir != "dir" || c.name != "p" || c.project != "p" {
		t.Errorf("address %q dir %q name %q project %q", *c.address, c.projectDir, c.name, c.project)
	}
	for _, l := range []struct{ got, want []string }{
		{c.files, []string{"a.yaml", "b.yaml", "c.yaml"}},
		{c.envFiles, []string{"a.env", "b.env"}},
		{c.profiles, []string{"x", "y"}},
		{c.containers, []string{"k1", "k2"}},
	} {
		if !slices.Equal(l.got, l.want) {
			t.Errorf("%q, want %q", l.got, l.want)
		}
	}
}

func reversed(opts []Option) []Option {
	out := make([]Option, len(opts))
	for i, o := range opts {
		out[len(opts)-1-i] = o
	}
	return out
}
