package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	composecli "github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/kafkadial/kafkadial/internal/safetext"
	"github.com/kafkadial/kafkadial/rules"
)

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
		// is reported as the error it is, not a crash of the command.
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

// composeResult is what from-compose found.
type composeResult struct {
	Files     []string        `json:"files"`
	Services  []serviceResult `json:"services"`
	Rules     []string        `json:"rules"`
	Bootstrap []string        `json:"bootstrap"` // published addresses a host client can bootstrap from; the rules keep them as they are
	// OK: there is a broker, and every broker (controllers aside) has an
	// advertised address the host reaches.
	OK bool `json:"ok"`
}

type serviceResult struct {
	Service   string           `json:"service"`
	Image     string           `json:"image,omitempty"`
	Kind      string           `json:"kind"`            // Kafka or Redpanda
	Role      string           `json:"role"`            // broker, or controller for a KRaft controller-only node (no rules: clients never dial it)
	Roles     string           `json:"roles,omitempty"` // process.roles as set
	Read      []string         `json:"read,omitempty"`  // configuration files read besides the compose file
	Assumed   []string         `json:"assumed,omitempty"`
	Listeners []listenerResult `json:"listeners"`
	Problems  []string         `json:"problems,omitempty"` // configuration the command cannot follow
}

type listenerResult struct {
	Name          string `json:"name"`               // listener name, e.g. PLAINTEXT_HOST
	Protocol      string `json:"protocol,omitempty"` // its security protocol
	Advertised    string `json:"advertised"`         // host:port clients are told, as written
	Computed      string `json:"computed,omitempty"` // what computes part of Advertised at container start
	ContainerPort int    `json:"container_port"`     // the port the listener binds in the container
	Published     string `json:"published,omitempty"`
	Rule          string `json:"rule,omitempty"`
	Reachable     bool   `json:"reachable"` // the host reaches Advertised (through Rule)
	Note          string `json:"note"`      // how Published was found, or why there is none

	unpublished bool // the container port is not published: advice depends on the other listeners
	advHost     string
	advPort     int
	portsOf     string // the service whose ports: publish the listener's
}

// deriveOptions says how to derive rules.
type deriveOptions struct {
	// target is the address that reaches ports published on all
	// interfaces: 127.0.0.1, or the Docker host named by --host.
	target string
	// files reads what services mount from the host; nil reads the disk.
	files hostFiles
}

// deriveRules finds the Kafka and Redpanda services of a project and the
// rules that let the host reach each address their brokers advertise.
func deriveRules(p *types.Project, o deriveOptions) *composeResult {
	if o.files == nil {
		o.files = osFiles{}
	}
	v := newProjectView(p, o)
	res := &composeResult{Files: p.ComposeFiles, Services: []serviceResult{}, Rules: []string{}, Bootstrap: []string{}, OK: true}
	claimed := map[string]string{} // advertised address -> service that has a rule for it
	brokers := 0
	for _, name := range v.names {
		sp := v.specs[name]
		if sp == nil {
			continue
		}
		sr := v.deriveService(name, p.Services[name], sp)
		if sr.Role == "controller" {
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
				l.Rule, l.Reachable = "", false
				continue
			}
			claimed[l.Advertised] = name
			res.Rules = append(res.Rules, l.Rule)
			if l.Published != "" {
				res.Bootstrap = append(res.Bootstrap, l.Published)
			}
			reachable = true
		}
		v.adviseUnpublished(&sr, reachable)
		if !reachable {
			res.OK = false
			if len(sr.Problems) == 0 {
				sr.problem("the host reaches none of the addresses this broker advertises")
			}
		}
		res.Services = append(res.Services, sr)
	}
	if brokers == 0 {
		res.OK = false
	}
	return res
}

func (sr *serviceResult) problem(format string, args ...any) {
	sr.Problems = append(sr.Problems, fmt.Sprintf(format, args...))
}

func (sr *serviceResult) assume(format string, args ...any) {
	sr.Assumed = append(sr.Assumed, fmt.Sprintf(format, args...))
}

// writeComposeRules prints the result as a rules file whose comments say
// where each rule comes from and what is left unreachable.
func writeComposeRules(w *strings.Builder, res *composeResult) {
	// Text from the compose file goes into comments: keep each on its line.
	oneLine := safetext.Printable
	fmt.Fprintf(w, "# kafkadial rules derived by `kafkadial rules from-compose` from\n")
	for _, f := range res.Files {
		fmt.Fprintf(w, "#   %s\n", oneLine(f))
	}
	if len(res.Bootstrap) > 0 {
		fmt.Fprintf(w, "# bootstrap from the host with %s\n", strings.Join(res.Bootstrap, ","))
	}
	keep := keepRules(res)
	width := 0
	for _, s := range res.Services {
		for _, l := range s.Listeners {
			width = max(width, len(l.Rule))
		}
	}
	for _, k := range keep {
		width = max(width, len(k))
	}
	for _, s := range res.Services {
		fmt.Fprintf(w, "\n# service %s", oneLine(s.Service))
		if s.Image != "" {
			fmt.Fprintf(w, " (%s)", oneLine(s.Image))
		}
		if s.Role == "controller" {
			fmt.Fprintf(w, ": KRaft controller only (%s): clients never dial it, so it needs no rule\n", oneLine(s.Roles))
			continue
		}
		fmt.Fprintln(w)
		for _, r := range s.Read {
			fmt.Fprintf(w, "# read %s\n", oneLine(r))
		}
		for _, a := range s.Assumed {
			fmt.Fprintf(w, "# assumed: %s\n", oneLine(a))
		}
		for _, p := range s.Problems {
			fmt.Fprintf(w, "# PROBLEM: %s\n", oneLine(p))
		}
		for _, l := range s.Listeners {
			if l.Rule != "" {
				fmt.Fprintf(w, "%-*s  # %s\n", width, l.Rule, oneLine(l.Note))
			} else {
				fmt.Fprintf(w, "# %s is not reachable from the host: %s\n", oneLine(l.Advertised), oneLine(l.Note))
			}
		}
	}
	if len(keep) > 0 {
		fmt.Fprintf(w, "\n# the published addresses, dialled as they are (so that a strict dialer reaches the bootstrap)\n")
		for _, k := range keep {
			fmt.Fprintln(w, k)
		}
	}
}

// keepRules are "ADDR => =" for each published address that no derived
// rule matches already, in the order of the rules.
func keepRules(res *composeResult) []string {
	rs, errs := rules.Parse("derived", strings.Join(res.Rules, "\n"))
	if len(errs) > 0 {
		return nil // cannot happen: every rule was checked alone
	}
	table := rules.NewTable(rs)
	var (
		out  []string
		seen = map[string]bool{}
	)
	for _, b := range res.Bootstrap {
		if seen[b] {
			continue
		}
		seen[b] = true
		if r, _, err := table.Lookup(b); err == nil && r != nil {
			continue
		}
		out = append(out, b+" => =")
	}
	return out
}

func sortedKeys[M ~map[K]V, K cmp.Ordered, V any](m M) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
