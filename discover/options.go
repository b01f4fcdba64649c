package discover

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
)

// Option configures Compose, Project and Docker. A nil Option is ignored;
// options are checked when discovery starts, and a bad one is an error
// naming it. The order of options never matters. An option that sets one
// value (WithPublishedAddress, WithProjectDir, WithProjectName,
// WithEnviron, WithComposeProject) may be given again only with the same
// value: two different values would make the order decide, so discovery
// refuses them with an error naming the option. WithEnviron's slice cannot
// be compared, so it is given once. The options that take lists add to
// them (WithFiles, WithEnvFiles, WithProfiles, WithContainers), and where
// the order of a list means something it is the order given: compose files
// merge, and env files override, in that order.
type Option func(*config)

type config struct {
	address    *string // WithPublishedAddress
	files      []string
	projectDir string
	envFiles   []string
	profiles   []string
	name       string
	environ    []string
	environSet bool
	containers []string
	project    string

	hostFiles hostFiles // tests: what services mount, from memory

	given map[string]any // single-valued options given, by name, with their value
	err   error          // the first one given twice with different values
}

// setOnce records the value of a single-valued option and reports whether
// to apply it. Giving it again with another value records an error, which
// newConfig returns: with two values, the order of the options would
// decide.
func (c *config) setOnce(name string, v any) bool {
	if old, ok := c.given[name]; ok {
		if !sameValue(old, v) && c.err == nil {
			c.err = fmt.Errorf("discover: %s given twice with different values: options apply in any order, so give it once", name)
		}
		return false
	}
	if c.given == nil {
		c.given = map[string]any{}
	}
	c.given[name] = v
	return true
}

// sameValue reports whether two option values are the same value; values
// of types that cannot be compared (slices) never are.
func sameValue(a, b any) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb || ta == nil || !ta.Comparable() {
		return ta == nil && tb == nil
	}
	return a == b
}

// WithPublishedAddress sets the address (an IP address or a host name,
// without a port) this machine dials for a port published on all of the
// Docker host's interfaces. Default: 127.0.0.1 for Compose and Project
// and for a local engine; the engine's host for a remote one (Docker).
// Give the Docker host's address when the compose project runs
// elsewhere.
func WithPublishedAddress(host string) Option {
	return func(c *config) {
		if c.setOnce("WithPublishedAddress", host) {
			c.address = &host
		}
	}
}

// WithFiles adds compose files, each merged over the ones before it as
// docker compose -f does. Compose's file argument comes first, then the
// files of every WithFiles in the order given. Default: none.
func WithFiles(files ...string) Option {
	return func(c *config) { c.files = append(c.files, files...) }
}

// WithProjectDir sets the project's working directory, from which
// relative paths (bind mounts, env_file, .env) are read. Default: the
// first file's directory.
func WithProjectDir(dir string) Option {
	return func(c *config) {
		if c.setOnce("WithProjectDir", dir) {
			c.projectDir = dir
		}
	}
}

// WithEnvFiles reads variables for interpolation from these files instead
// of the project's .env, as docker compose --env-file does. It adds to the
// files of any other WithEnvFiles; they are read in the order given, a
// later file's variable winning. Default: .env in the project directory.
func WithEnvFiles(files ...string) Option {
	return func(c *config) { c.envFiles = append(c.envFiles, files...) }
}

// WithProfiles enables the services of these profiles, and of any other
// WithProfiles. Default: COMPOSE_PROFILES from the environment.
func WithProfiles(profiles ...string) Option {
	return func(c *config) { c.profiles = append(c.profiles, profiles...) }
}

// WithProjectName sets the compose project's name. Default: the name
// compose gives it (COMPOSE_PROJECT_NAME, name:, or the directory).
func WithProjectName(name string) Option {
	return func(c *config) {
		if c.setOnce("WithProjectName", name) {
			c.name = name
		}
	}
}

// WithEnviron sets the process environment compose interpolates from
// ("KEY=value" entries; it wins over .env), COMPOSE_FILE and
// COMPOSE_PROFILES included. Default: os.Environ(). WithEnviron(nil)
// means an empty environment. Give it once: two slices are never the same
// value (see Option).
func WithEnviron(environ []string) Option {
	return func(c *config) {
		if c.setOnce("WithEnviron", environ) {
			c.environ, c.environSet = environ, true
		}
	}
}

// WithContainers takes only the containers named (by name, ID or short
// ID), running or not (Docker only); several WithContainers add up.
// Default: every running container.
// Docker fails with a *NotFoundError naming those the engine does not
// have.
func WithContainers(names ...string) Option {
	return func(c *config) { c.containers = append(c.containers, names...) }
}

// WithComposeProject takes only the containers of compose project name
// (Docker only). Default: containers of any project or none.
func WithComposeProject(name string) Option {
	return func(c *config) {
		if c.setOnce("WithComposeProject", name) {
			c.project = name
		}
	}
}

func newConfig(opts []Option) (*config, error) {
	c := &config{}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	if c.address != nil {
		h := strings.Trim(*c.address, "[]")
		if h == "" || strings.Contains(h, ":") && net.ParseIP(h) == nil {
			return nil, fmt.Errorf("discover: WithPublishedAddress: %q: want an IP address or a host name, without a port", printable(*c.address))
		}
		c.address = &h
	}
	for _, n := range c.containers {
		if strings.TrimPrefix(n, "/") == "" {
			return nil, errors.New("discover: WithContainers: an empty name")
		}
	}
	return c, nil
}

// withHostFiles reads what services mount from files instead of the disk
// (tests).
func withHostFiles(files hostFiles) Option {
	return func(c *config) {
		if c.setOnce("withHostFiles", files) {
			c.hostFiles = files
		}
	}
}
