package discover

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
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
	res := derive(p, c)
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
	return derive(p, c), nil
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

// derive finds the Kafka and Redpanda services of a project and the
// rules that let the host reach each address their brokers advertise.
func derive(p *types.Project, c *config) *Result {
	files := c.hostFiles
	if files == nil {
		files = osFiles{}
	}
	target := "127.0.0.1"
	if c.address != nil {
		target = *c.address
	}
	v := newProjectView(p, deriveOptions{target: target, files: files})
	res := &Result{Sources: p.ComposeFiles, Services: []Service{}, rules: []string{}, bootstrap: []string{}, ok: true}
	claimed := map[string]string{} // advertised address -> service that has a rule for it
	brokers := 0
	for _, name := range v.names {
		sp := v.specs[name]
		if sp == nil {
			continue
		}
		sr := v.deriveService(name, p.Services[name], sp)
		if sr.Role == Controller {
			res.Services = append(res.Services, sr)
			continue
		}
		brokers++
		reachable := false
		for i := range sr.Listeners {
			l := &sr.Listeners[i]
			if l.Rule == "" {
				continue
			}
			if other, dup := claimed[l.Advertised]; dup {
				sr.problem("%s is advertised by service %s too: one address cannot reach two brokers, so only %s's rule is kept", l.Advertised, other, other)
				l.Rule, l.reachable, l.TakenBy = "", false, other
				continue
			}
			claimed[l.Advertised] = name
			res.rules = append(res.rules, l.Rule)
			if l.Published != "" {
				res.bootstrap = append(res.bootstrap, l.Published)
			}
			reachable = true
		}
		v.adviseUnpublished(&sr, reachable)
		if !reachable {
			res.ok = false
			if len(sr.Problems) == 0 {
				sr.problem("the host reaches none of the addresses this broker advertises")
			}
		}
		res.Services = append(res.Services, sr)
	}
	if brokers == 0 {
		res.ok = false
	}
	return res
}

// deriveOptions says how to derive rules.
type deriveOptions struct {
	// target is the address that reaches ports published on all
	// interfaces: 127.0.0.1, or the Docker host's address.
	target string
	// files reads what services mount from the host.
	files hostFiles
}

func sortedKeys[M ~map[K]V, K cmp.Ordered, V any](m M) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
