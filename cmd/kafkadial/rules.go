package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"text/tabwriter"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/discover"
)

const rulesSynopsis = `Usage:
  kafkadial rules check [FILE...]          report rule errors and rules that never match
  kafkadial rules explain ADDR...          show the route of each address
  kafkadial rules from-compose [FILE...]   derive rules from a docker-compose file
  kafkadial rules from-docker [NAME...]    derive rules from the containers a Docker engine runs

Run "kafkadial rules COMMAND --help" for a command's flags.
`

func (c *cli) rules(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, rulesSynopsis)
		return exitUsage
	}
	switch args[0] {
	case "check":
		return c.rulesCheck(args[1:])
	case "explain":
		return c.rulesExplain(ctx, args[1:])
	case "from-compose":
		return c.rulesFromCompose(ctx, args[1:])
	case "from-docker":
		return c.rulesFromDocker(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(c.stdout, rulesSynopsis)
		return exitOK
	}
	fmt.Fprintf(c.stderr, "kafkadial rules: unknown command %q\n\n%s", args[0], rulesSynopsis)
	return exitUsage
}

const checkSynopsis = `Usage: kafkadial rules check [flags] [FILE...]

Checks rule files as one rule set, in the order given (as --rules FILE...
loads them), then the environment's rules with --env, or only those when no
FILE is given. It reports, as FILE:LINE:COL: message,
  - syntax errors (all of them, not only the first),
  - hops (via) that cannot be built, such as unknown names,
  - rules that never match because an earlier rule matches every address
    they match.
Nothing is printed for clean rules. Exit status: 0 clean, 1 problems found,
2 usage error.
`

type finding struct {
	Kind   string `json:"kind"` // syntax, hop, shadowed, source
	Source string `json:"source"`
	Line   int    `json:"line,omitempty"`
	Col    int    `json:"col,omitempty"`
	By     string `json:"by,omitempty"` // for shadowed: the rule that takes its addresses
	Error  string `json:"error"`
}

func (c *cli) rulesCheck(args []string) int {
	fs := newFlagSet("rules check", checkSynopsis, c.stderr)
	withEnv := fs.Bool("env", false, "check KAFKADIAL_RULES and KAFKADIAL_RULES_FILE after the files")
	asJSON := fs.Bool("json", false, "print the findings as a JSON array")
	files, code, ok := parseFlags(fs, args, c.stdout)
	if !ok {
		return code
	}
	opts, closeHops := hopSchemes()
	defer closeHops()
	for _, f := range files {
		opts = append(opts, dialer.WithRulesFile(f))
	}
	if *withEnv || len(files) == 0 {
		if len(files) == 0 && c.getenv("KAFKADIAL_RULES") == "" && c.getenv("KAFKADIAL_RULES_FILE") == "" {
			c.errorf("rules check: no FILE given and neither KAFKADIAL_RULES nor KAFKADIAL_RULES_FILE is set")
			return exitUsage
		}
		opts = append(opts, dialer.WithGetenv(c.getenv), dialer.WithEnv())
	}
	found, err := dialer.Check(opts...)
	if err != nil {
		c.errorf("rules check: %v", err)
		return exitUsage
	}
	if *asJSON {
		out := make([]finding, 0, len(found))
		for _, f := range found {
			out = append(out, finding{Kind: f.Kind.String(), Source: f.Source, Line: f.Line, Col: f.Col, By: f.By, Error: f.Err.Error()})
		}
		writeJSON(c, out)
	} else {
		for _, f := range found {
			fmt.Fprintln(c.stdout, f.Error())
		}
	}
	if len(found) > 0 {
		return exitProblem
	}
	return exitOK
}

const explainSynopsis = `Usage: kafkadial rules explain [flags] ADDR...

Shows, for each host:port, the route a dial would take as dialer.Route
reports it: the target, the rule that matched (FILE:LINE), the hop and the
name TLS verifies. Rules come from --rules FILE..., then KAFKADIAL_RULES and
KAFKADIAL_RULES_FILE; addresses no rule matches go to the embedded resolver
when --zone files are given (rule "resolver"), then to the Docker engine with --docker (rule
"docker container NAME (ID) by alias"). Nothing is dialled. Exit status: 0, 1 when an address
cannot be routed (malformed, or refused under --strict), 2 for bad rules.
`

type explained struct {
	Addr       string `json:"addr"`
	Target     string `json:"target,omitempty"`
	Rule       string `json:"rule,omitempty"`
	Via        string `json:"via,omitempty"`
	ServerName string `json:"server_name,omitempty"`
	Error      string `json:"error,omitempty"`
}

func (c *cli) rulesExplain(ctx context.Context, args []string) int {
	var rf ruleFlags
	fs := newFlagSet("rules explain", explainSynopsis, c.stderr)
	rf.register(fs)
	asJSON := fs.Bool("json", false, "print the routes as a JSON array")
	addrs, code, ok := parseFlags(fs, args, c.stdout)
	if !ok {
		return code
	}
	if len(addrs) == 0 {
		c.errorf("rules explain: give at least one host:port")
		return exitUsage
	}
	opts, err := rf.options(c.getenv)
	defer rf.close()
	if err != nil {
		c.errorf("rules explain: %v", err)
		return exitUsage
	}
	d, err := dialer.New(opts...)
	if err != nil {
		c.errorf("rules explain: %v", err)
		return exitUsage
	}
	defer d.Close()
	var (
		out    []explained
		failed bool
	)
	for _, a := range addrs {
		e := explained{Addr: a}
		rt, err := d.RouteContext(ctx, a)
		rt = shownRoute(rt)
		switch {
		case err != nil:
			var ae *net.AddrError
			if errors.As(err, &ae) || strings.Contains(err.Error(), "missing port") {
				err = fmt.Errorf("%w (want host:port)", err)
			}
			e.Error = err.Error()
		case rt.Rule == "" && rf.strict:
			e.Error = "no rule matches (refused under --strict)"
		default:
			e.Target, e.Rule, e.Via, e.ServerName = rt.Target, rt.Rule, rt.Via, rt.ServerName
		}
		if e.Error != "" {
			failed = true
			c.errorf("rules explain: %s: %s", a, e.Error)
		}
		out = append(out, e)
	}
	if *asJSON {
		writeJSON(c, out)
	} else {
		tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDR\tTARGET\tRULE\tVIA\tTLS NAME")
		for _, e := range out {
			switch {
			case e.Error != "":
				fmt.Fprintf(tw, "%s\t-\t-\t-\t-\n", e.Addr)
			case e.Rule == "":
				fmt.Fprintf(tw, "%s\t%s\t(none: dialled as is)\t-\t%s\n", e.Addr, e.Target, e.ServerName)
			default:
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Addr, e.Target, e.Rule, dash(e.Via), e.ServerName)
			}
		}
		tw.Flush()
	}
	if failed {
		return exitProblem
	}
	return exitOK
}

const composeSynopsis = `Usage: kafkadial rules from-compose [flags] [FILE...]

Loads a docker-compose project the way docker compose does (compose-go:
variables from the environment and .env, COMPOSE_FILE, override files,
profiles, env_file), finds every Kafka and Redpanda service and prints rules
that let this host reach each address its brokers advertise: a listener's
advertised port is a container port, served by the listener's bind port,
which ports: publishes on a host port (of this service, or of a proxy
service in front of it).

Kafka settings are read from the environment (KAFKA_ADVERTISED_LISTENERS,
KAFKA_LISTENERS and the rest, bitnami's KAFKA_CFG_ forms, the older
KAFKA_ADVERTISED_HOST_NAME/PORT with wurstmeister's HOSTNAME_COMMAND and
PORT_COMMAND), from a server.properties the service bind-mounts and from
--override arguments; Redpanda's from --kafka-addr and
--advertise-kafka-addr in its command. KRaft controller-only nodes get
no rules: clients never dial them. What is computed at container start is
named, with the rule that holds whatever it computes. An address that no
published port reaches is named in a comment that says why.

With no FILE: COMPOSE_FILE, else compose.yaml, compose.yml,
docker-compose.yml or docker-compose.yaml (and its override file) in the
current directory or a parent.

Exit status: 0 when every broker (controllers aside) has an advertised
address the host reaches, 1 otherwise (the reason on stderr), 2 when the
project does not load.
`

func (c *cli) rulesFromCompose(ctx context.Context, args []string) int {
	var (
		o        []discover.Option
		files    stringList
		envFiles stringList
		profiles stringList
		dir      string
		name     string
	)
	fs := newFlagSet("rules from-compose", composeSynopsis, c.stderr)
	fs.Var(&files, "f", "compose `FILE` (repeatable, later files override earlier ones; same as a FILE argument)")
	fs.Var(&files, "file", "compose `FILE` (same as -f)")
	fs.StringVar(&dir, "project-directory", "", "the project's working `DIR` (default: the first file's directory)")
	fs.Var(&envFiles, "env-file", "read variables from `FILE` instead of .env (repeatable)")
	fs.Var(&profiles, "profile", "enable services of `PROFILE` (repeatable; default COMPOSE_PROFILES)")
	fs.StringVar(&name, "p", "", "project `NAME`")
	loopback := fs.String("host", "127.0.0.1", "the `ADDRESS` that reaches ports published on all interfaces (the Docker host's address when Docker runs elsewhere)")
	asJSON := fs.Bool("json", false, "print what was found as JSON instead of a rules file")
	verbose := fs.Bool("verbose", false, "print compose-go's warnings as it words them")
	pos, code, ok := parseFlags(fs, args, c.stdout)
	if !ok {
		return code
	}
	if h := strings.Trim(*loopback, "[]"); h == "" || strings.Contains(h, ":") && net.ParseIP(h) == nil {
		c.errorf("rules from-compose: --host %q: want an IP address or a host name, without a port", *loopback)
		return exitUsage
	} else {
		*loopback = h
	}
	all := append(files, pos...)
	first := ""
	if len(all) > 0 {
		first = all[0]
		o = append(o, discover.WithFiles(all[1:]...))
	}
	o = append(o, discover.WithProjectDir(dir), discover.WithEnvFiles(envFiles...), discover.WithProfiles(profiles...),
		discover.WithProjectName(name), discover.WithEnviron(c.environ()), discover.WithPublishedAddress(*loopback))
	found, err := discover.Compose(ctx, first, o...)
	if err != nil {
		var le *discover.LoadError
		if errors.As(err, &le) {
			c.composeWarnings(le.Warnings, *verbose)
		}
		c.errorf("rules from-compose: %s", printable(err.Error()))
		return exitUsage
	}
	c.composeWarnings(found.Warnings, *verbose)
	res := newComposeResult(found)
	if len(res.Services) == 0 {
		c.errorf("rules from-compose: no Kafka service in %s (none sets KAFKA_ADVERTISED_LISTENERS, KAFKA_LISTENERS, KAFKA_ADVERTISED_HOST_NAME, KAFKA_PROCESS_ROLES or their KAFKA_CFG_ forms, mounts a server.properties, or runs redpanda start)", printable(strings.Join(found.Sources, ", ")))
		return exitProblem
	}
	if *asJSON {
		writeJSON(c, res)
	} else {
		var b strings.Builder
		writeComposeRules(&b, res, "from-compose", "service")
		fmt.Fprint(c.stdout, b.String())
	}
	brokers := 0
	for _, s := range res.Services {
		if s.Role != string(discover.Controller) {
			brokers++
		}
		for _, pr := range s.Problems {
			c.errorf("rules from-compose: service %s: %s", printable(s.Service), printable(pr))
		}
	}
	if brokers == 0 {
		c.errorf("rules from-compose: no Kafka broker in %s: every Kafka service is a KRaft controller only", printable(strings.Join(found.Sources, ", ")))
	}
	if !res.OK {
		return exitProblem
	}
	return exitOK
}

// composeWarnings prints what compose-go warned about while loading. The
// obsolete top-level version: is said once and briefly, in compose-go's
// words with --verbose.
func (c *cli) composeWarnings(warnings []string, verbose bool) {
	versionSaid := false
	for _, w := range warnings {
		w = printable(w)
		switch {
		case verbose:
			fmt.Fprintf(c.stderr, "kafkadial: compose: warning: %s\n", w)
		case obsoleteVersion(w):
			if !versionSaid {
				fmt.Fprintf(c.stderr, "kafkadial: compose: the top-level version: is obsolete; compose ignores it (--verbose for details)\n")
			}
			versionSaid = true
		default:
			fmt.Fprintf(c.stderr, "kafkadial: compose: warning: %s\n", w)
		}
	}
}

// obsoleteVersion says whether a compose-go warning is the one about a
// top-level version: attribute, which Compose ignores.
func obsoleteVersion(msg string) bool {
	return strings.Contains(msg, "the attribute `version` is obsolete")
}

func writeJSON(c *cli, v any) {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		c.errorf("%v", err)
	}
}
