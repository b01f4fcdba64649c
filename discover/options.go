package discover

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// Option configures Compose, Project and Docker. A nil Option is ignored;
// options are checked when discovery starts, in any order, and a bad one
// is an error naming it.
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
}

// WithPublishedAddress sets the address (an IP address or a host name,
// without a port) this machine dials for a port published on all of the
// Docker host's interfaces. Default: 127.0.0.1 for Compose and Project
// and for a local engine; the engine's host for a remote one (Docker).
// Give the Docker host's address when the compose project runs
// elsewhere.
func WithPublishedAddress(host string) Option {
	return func(c *config) { c.address = &host }
}

// WithFiles adds compose files, each merged over the ones before it as
// docker compose -f does. Compose's file argument comes first. Default:
// none.
func WithFiles(files ...string) Option {
	return func(c *config) { c.files = append(c.files, files...) }
}

// WithProjectDir sets the project's working directory, from which
// relative paths (bind mounts, env_file, .env) are read. Default: the
// first file's directory.
func WithProjectDir(dir string) Option {
	return func(c *config) { c.projectDir = dir }
}

// WithEnvFiles reads variables for interpolation from these files instead
// of the project's .env, as docker compose --env-file does. Default: .env
// in the project directory.
func WithEnvFiles(files ...string) Option {
	return func(c *config) { c.envFiles = append(c.envFiles, files...) }
}

// WithProfiles enables the services of these profiles. Default:
// COMPOSE_PROFILES from the environment.
func WithProfiles(profiles ...string) Option {
	return func(c *config) { c.profiles = append(c.profiles, profiles...) }
}

// WithProjectName sets the compose project's name. Default: the name
// compose gives it (COMPOSE_PROJECT_NAME, name:, or the directory).
func WithProjectName(name string) Option {
	return func(c *config) { c.name = name }
}

// WithEnviron sets the process environment compose interpolates from
// ("KEY=value" entries; it wins over .env), COMPOSE_FILE and
// COMPOSE_PROFILES included. Default: os.Environ(). WithEnviron(nil)
// means an empty environment.
func WithEnviron(environ []string) Option {
	return func(c *config) { c.environ, c.environSet = environ, true }
}

// WithContainers takes only the containers named (by name, ID or short
// ID), running or not (Docker only). Default: every running container.
// Docker fails with a *NotFoundError naming those the engine does not
// have.
func WithContainers(names ...string) Option {
	return func(c *config) { c.containers = append(c.containers, names...) }
}

// WithComposeProject takes only the containers of compose project name
// (Docker only). Default: containers of any project or none.
func WithComposeProject(name string) Option {
	return func(c *config) { c.project = name }
}

func newConfig(opts []Option) (*config, error) {
	c := &config{}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
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
	return func(c *config) { c.hostFiles = files }
}
