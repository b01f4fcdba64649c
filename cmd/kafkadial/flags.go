package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/resolver"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// newFlagSet makes a flag set whose usage text starts with synopsis.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), synopsis)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(fs.Output(), "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args, allowing flags after positional arguments (until
// "--"), and returns the positional ones. ok is false when the command
// should stop with code: 0 after --help (usage on stdout), 2 after a bad flag
// (the flag package has printed the problem and the usage on stderr).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (pos []string, code int, ok bool) {
	// flag prints the usage itself, on its output, for -h as for errors:
	// print it once, on stdout for -h (the result asked for) and on stderr
	// after an error.
	usage := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = usage }()
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			stderr := fs.Output()
			fs.SetOutput(stdout)
			usage()
			fs.SetOutput(stderr)
			return nil, exitOK, false
		}
		if err != nil {
			usage()
			return nil, exitUsage, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, true
		}
		// flag stops at the first non-flag; a preceding "--" means the
		// rest is all positional.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), 0, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// ruleFlags are the flags that choose rules, shared by probe and explain.
type ruleFlags struct {
	files  stringList
	zones  stringList
	noEnv  bool
	strict bool
	docker dockerFlags // docker.go
	// Set by options: what close releases.
	closers []func() error
}

// close releases what options opened (the kube hop builder, the Docker
// engine's connection), after the dialers built with them are closed.
func (r *ruleFlags) close() {
	for _, c := range r.closers {
		c()
	}
	r.closers = nil
}

func (r *ruleFlags) register(fs *flag.FlagSet) {
	fs.Var(&r.files, "rules", "read rules from `FILE` (repeatable; before the environment's rules)")
	fs.Var(&r.zones, "zone", "ask the embedded resolver, holding zone `FILE`, about addresses no rule matches (repeatable)")
	fs.BoolVar(&r.noEnv, "no-env", false, "ignore KAFKADIAL_RULES and KAFKADIAL_RULES_FILE")
	fs.BoolVar(&r.strict, "strict", false, "refuse addresses no rule matches, as dialer.WithStrict does")
	r.docker.register(fs)
}

// options returns the dialer options for the rules: files in the order
// given, then the environment, then the resolver for the zone files, then
// the Docker engine (--docker).
func (r *ruleFlags) options(getenv func(string) string) ([]dialer.Option, error) {
	opts, closeHops := hopSchemes()
	r.closers = append(r.closers, closeHops)
	for _, f := range r.files {
		opts = append(opts, dialer.WithRulesFile(f))
	}
	if !r.noEnv {
		opts = append(opts, dialer.WithGetenv(getenv), dialer.WithEnv())
	}
	if r.strict {
		opts = append(opts, dialer.WithStrict())
	}
	var rs []dialer.Resolver
	if len(r.zones) > 0 {
		var ropts []resolver.Option
		for _, z := range r.zones {
			ropts = append(ropts, resolver.WithZoneFile(z))
		}
		res, err := resolver.New(ropts...)
		if err != nil {
			return nil, err
		}
		rs = append(rs, res)
	}
	if r.docker.enabled() {
		res, err := r.docker.resolver(context.Background())
		if err != nil {
			return nil, err
		}
		r.closers = append(r.closers, res.Close)
		rs = append(rs, res)
	}
	if len(rs) > 0 {
		// The dialer asks them in this order, and the first that knows an
		// address answers (Route.Detail says which).
		opts = append(opts, dialer.WithResolver(rs...))
	}
	return opts, nil
}

// tlsFlags are the flags for TLS to the brokers, shared by probe and proxy.
type tlsFlags struct {
	on         bool
	cafile     string
	serverName string
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.on, "tls", false, "speak TLS to the brokers, verifying the advertised names")
	fs.StringVar(&f.cafile, "cafile", "", "verify broker certificates against the PEM `FILE` (implies --tls; default: system roots)")
	fs.StringVar(&f.serverName, "tls-server-name", "", "verify every broker certificate against `NAME` instead of the advertised host")
}

// config returns the TLS configuration the flags ask for, nil for none.
func (f *tlsFlags) config() (*tls.Config, error) {
	if !f.on && f.cafile == "" && f.serverName == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.serverName}
	if f.cafile != "" {
		pem, err := os.ReadFile(f.cafile)
		if err != nil {
			return nil, fmt.Errorf("--cafile: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cafile %s holds no PEM certificate", f.cafile)
		}
	}
	return cfg, nil
}
