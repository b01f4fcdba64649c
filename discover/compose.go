package discover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	composecli "github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// Compose loads a compose project as docker compose does and discovers
// its Kafka and Redpanda nodes. file is the compose file; "" finds it as
// docker compose does (COMPOSE_FILE, else compose.yaml, compose.yml,
// docker-compose.yml or docker-compose.yaml, with its override file, in
// the current directory or a parent). Variables come from the process
// environment first (WithEnviron), then .env (WithEnvFiles); COMPOSE_FILE,
// COMPOSE_PROFILES and env_file entries count as in docker compose.
//
// An error is a *LoadError: the project did not load. A project without
// a Kafka node is a Result with no Services.
func Compose(ctx context.Context, file string, opts ...Option) (*Result, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	var files []string
	if file != "" {
		files = append(files, file)
	}
	files = append(files, c.files...)
	environ := c.environ
	if !c.environSet {
		environ = os.Environ()
	}
	p, warnings, err := loadCompose(ctx, composeOptions{files: files, projectDir: c.projectDir, envFiles: c.envFiles, profiles: c.profiles, projectName: c.name, environ: environ})
	if err != nil {
		return nil, &LoadError{Warnings: warnings, Err: err}
	}
	res := deriveCompose(p, c)
	res.Warnings = warnings
	return res, nil
}

// Project discovers the Kafka and Redpanda nodes of a compose project
// that compose-go loaded. Relative bind mount sources are taken from the
// project's WorkingDir.
func Project(p *types.Project, opts ...Option) (*Result, error) {
	if p == nil {
		return nil, errors.New("discover: Project: nil project")
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return deriveCompose(p, c), nil
}

// LoadError is Compose's error when the project does not load.
type LoadError struct {
	// Warnings are what compose-go warned about before it failed, in
	// its words (often the cause: an unset variable).
	Warnings []string
	Err      error // compose-go's error, or why no file was found
}

// Error is the cause's text, with control characters escaped.
func (e *LoadError) Error() string { return printable(e.Err.Error()) }

func (e *LoadError) Unwrap() error { return e.Err }

// composeOptions says how to load a compose project; the fields mirror
// docker compose's own flags.
type composeOptions struct {
	files       []string // -f; none: COMPOSE_FILE, then ./compose.yaml etc. and its override
	projectDir  string
	envFiles    []string
	profiles    []string
	projectName string
	environ     []string // the process environment, which wins over .env
}

// loadCompose loads a project as docker compose does: the process
// environment first, then .env (or --env-file) for interpolation,
// COMPOSE_FILE and the default file names with their override file,
// COMPOSE_PROFILES, and env_file entries resolved into each service's
// environment. It returns the warnings compose-go gave on the way.
func loadCompose(ctx context.Context, o composeOptions) (p *types.Project, warnings []string, err error) {
	log, release := captureComposeLog()
	defer func() {
		release()
		warnings = log.warnings
	}()
	defer func() {
		// The loader is a large body of code fed user input; a panic in it
		// is reported as the error it is, not a crash of the caller.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("the compose loader failed on this input: %v", r)
		}
	}()
	opts, err := composecli.NewProjectOptions(o.files,
		composecli.WithWorkingDirectory(o.projectDir),
		composecli.WithEnv(o.environ),
		composecli.WithEnvFiles(o.envFiles...),
		composecli.WithDotEnv,
		composecli.WithConfigFileEnv,
		composecli.WithDefaultConfigPath,
		// The project directory may have moved with the file found: its
		// .env counts too, as in docker compose.
		composecli.WithEnvFiles(o.envFiles...),
		composecli.WithDotEnv,
		composecli.WithDefaultProfiles(o.profiles...),
		composecli.WithName(o.projectName),
	)
	if err != nil {
		return nil, nil, err
	}
	if len(opts.ConfigPaths) == 0 {
		return nil, nil, errors.New("no compose file: none given, COMPOSE_FILE unset, and no compose.yaml, compose.yml, docker-compose.yml or docker-compose.yaml here or in a parent directory")
	}
	p, err = opts.LoadProject(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("loading %s: %w", strings.Join(opts.ConfigPaths, ", "), err)
	}
	return p, nil, nil
}

// composeNodes is the compose front end: a node per service of a
// project, with its bind mount sources on the host (compose-go makes them
// absolute unless told not to resolve paths: then they are taken from
// the project directory).
func composeNodes(p *types.Project) []*node {
	nodes := make([]*node, 0, len(p.Services))
	for name, svc := range p.Services {
		n := &node{name: name, image: svc.Image, hostname: svc.Hostname, dir: p.WorkingDir,
			networkMode: svc.NetworkMode, env: make(map[string]string, len(svc.Environment)),
			command: append(slices.Clone([]string(svc.Entrypoint)), svc.Command...)}
		if svc.ContainerName != "" {
			n.aliases = append(n.aliases, svc.ContainerName)
		}
		for _, net := range svc.Networks {
			if net != nil {
				n.aliases = append(n.aliases, net.Aliases...)
			}
		}
		for k, v := range svc.Environment {
			if v != nil {
				n.env[k] = *v
			} else {
				n.env[k] = ""
			}
		}
		for _, v := range svc.Volumes {
			m := mount{bind: v.Type == types.VolumeTypeBind, source: v.Source, target: v.Target}
			if m.bind && m.source != "" && !filepath.IsAbs(m.source) && p.WorkingDir != "" {
				m.source = filepath.Join(p.WorkingDir, m.source)
			}
			n.mounts = append(n.mounts, m)
		}
		for _, pc := range svc.Ports {
			n.ports = append(n.ports, port{target: int(pc.Target), published: pc.Published, hostIP: pc.HostIP, protocol: pc.Protocol})
		}
		if svc.Scale != nil {
			n.scale = *svc.Scale
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// deriveCompose derives the nodes of a compose project.
func deriveCompose(p *types.Project, c *config) *Result {
	res := derive(composeNodes(p), c)
	res.Sources = p.ComposeFiles
	return res
}
