// Command release cuts a kafkadial release, and rehearses one.
//
//	go run ./tools/release cut -dry-run v0.1.0   # everything in a temporary clone
//	go run ./tools/release cut v0.1.0            # gate, commit, tags, binaries
//	go run ./tools/release rehearse              # what CI runs: .ci/rehearse
//	go run ./tools/release gate -short           # what CI runs: .ci/gate
//
// The published modules are every go.mod of the repository except those in
// the unpublished list (examples, integration, tools/release); they are
// found anew on each run, so a module added later is released with the
// others. See RELEASING.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"
)

const usage = `usage: go run ./tools/release COMMAND [flags]

  cut [flags] VERSION   run the release gate, rewrite the requirements between the
                        modules to VERSION (with their go.sum lines) in one commit,
                        rehearse against it, tag the published modules in tag order,
                        and build the commands for linux, darwin and windows
                        (amd64, arm64) with SHA256SUMS
  rehearse [VERSION]    publish the working tree's modules at VERSION (default: the
                        version they require each other at) into a file proxy, then
                        use them from fresh modules outside the repository
  gate [flags]          the release gate: module checks, package docs, gofmt, vet,
                        staticcheck, -race tests, every fuzz target for a budget
  setversion VERSION    rewrite the requirements between the modules to VERSION
  tidy                  go mod tidy in every module with GOWORK=off, the kafkadial
                        modules taken from the tree through the rehearsal's proxy
  modules               list the modules: published ones in tag order, then the others

Run "go run ./tools/release COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if errors.Is(err, errUsage) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, w io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errUsage
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	repoDir := fs.String("C", ".", "the repository `dir`")
	verbose := fs.Bool("v", false, "show the commands' output")
	var g gateOptions
	var fuzzRe string
	gateFlags := func(defTime time.Duration) {
		fs.DurationVar(&g.FuzzTime, "fuzztime", defTime, "each fuzz target's budget")
		fs.DurationVar(&g.FuzzStart, "fuzzstart", 5*time.Minute, "longest wait for a fuzz target to build and start")
		fs.StringVar(&fuzzRe, "fuzz", "", "run only the fuzz targets whose `pkg.Name` matches this regexp")
		fs.StringVar(&g.FuzzCache, "fuzzcache", "", "keep interesting fuzz inputs in `dir` across runs (default: a new directory each run)")
	}
	parse := func(nargs int) ([]string, error) {
		if err := fs.Parse(args[1:]); err != nil {
			return nil, errUsage
		}
		if fs.NArg() > nargs {
			fmt.Fprintf(os.Stderr, "release %s: too many arguments\n", args[0])
			return nil, errUsage
		}
		if fuzzRe != "" {
			re, err := regexp.Compile(fuzzRe)
			if err != nil {
				return nil, fmt.Errorf("-fuzz: %w", err)
			}
			g.Fuzz = re
		}
		g.Verbose = *verbose
		return fs.Args(), nil
	}
	switch args[0] {
	case "cut":
		var o cutOptions
		fs.BoolVar(&o.DryRun, "dry-run", false, "release in a temporary clone of HEAD; change nothing here")
		fs.StringVar(&o.Gate, "gate", "full", "the gate to run first: full, short (CI's) or none (dry runs only)")
		fs.StringVar(&o.Out, "out", "", "where the binaries and SHA256SUMS go (default dist/VERSION)")
		fs.BoolVar(&o.Keep, "keep", false, "dry run: keep the clone")
		gateFlags(time.Minute)
		rest, err := parse(1)
		if err != nil {
			return err
		}
		if len(rest) != 1 {
			fmt.Fprintln(os.Stderr, "release cut: which version?")
			return errUsage
		}
		o.GateOpt, o.Verbose = g, *verbose
		_, err = cut(ctx, w, *repoDir, rest[0], o)
		return err
	case "rehearse":
		rest, err := parse(1)
		if err != nil {
			return err
		}
		repo, err := loadRepo(*repoDir)
		if err != nil {
			return err
		}
		v := repo.TreeVersion()
		if len(rest) == 1 {
			v = rest[0]
		}
		if err := checkVersion(v); err != nil {
			return err
		}
		start := time.Now()
		p, err := newProxyEnv(ctx, w, repo, v, *verbose)
		if err != nil {
			return err
		}
		defer p.close()
		if err := p.rehearse(ctx); err != nil {
			return err
		}
		fmt.Fprintf(w, "rehearsal of %s: passed in %s\n", v, time.Since(start).Round(time.Second))
		return nil
	case "gate":
		fs.BoolVar(&g.Short, "short", false, "CI's gate: no gofmt, vet or -race tests (CI runs those itself)")
		gateFlags(time.Minute)
		if _, err := parse(0); err != nil {
			return err
		}
		repo, err := loadRepo(*repoDir)
		if err != nil {
			return err
		}
		return gate(ctx, w, repo, g)
	case "setversion":
		rest, err := parse(1)
		if err != nil {
			return err
		}
		if len(rest) != 1 {
			return errUsage
		}
		if err := checkVersion(rest[0]); err != nil {
			return err
		}
		repo, err := loadRepo(*repoDir)
		if err != nil {
			return err
		}
		return setVersionInTree(repo, rest[0])
	case "tidy":
		if _, err := parse(0); err != nil {
			return err
		}
		repo, err := loadRepo(*repoDir)
		if err != nil {
			return err
		}
		return tidy(ctx, w, repo, *verbose)
	case "modules":
		if _, err := parse(0); err != nil {
			return err
		}
		repo, err := loadRepo(*repoDir)
		if err != nil {
			return err
		}
		order, err := repo.Published()
		if err != nil {
			return err
		}
		v := repo.TreeVersion()
		for _, m := range order {
			fmt.Fprintf(w, "published    %-24s tag %s\n", m.Dir, m.Tag(v))
		}
		for _, m := range repo.Modules {
			if !m.Published {
				fmt.Fprintf(w, "unpublished  %s\n", m.Dir)
			}
		}
		return nil
	case "-h", "-help", "--help", "help":
		fmt.Fprint(w, usage)
		return nil
	}
	fmt.Fprintf(os.Stderr, "release: unknown command %q\n\n%s", args[0], strings.TrimSpace(usage)+"\n")
	return errUsage
}

// setVersionInTree rewrites every module's go.mod so that the modules
// require each other at v.
func setVersionInTree(repo *Repo, v string) error {
	for _, m := range repo.Modules {
		data, err := repo.setVersion(m, v)
		if err != nil {
			return err
		}
		if string(data) != string(m.Data) {
			if err := os.WriteFile(repo.Root+"/"+m.Dir+"/go.mod", data, 0o644); err != nil {
				return err
			}
		}
	}
	_, err := setWorkVersion(repo, v)
	return err
}
