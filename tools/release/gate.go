package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// staticcheckVersion is the staticcheck the gate runs (go run ...@version).
const staticcheckVersion = "v0.8.2"

// gateOptions chooses the release gate's steps and budgets.
type gateOptions struct {
	Short    bool          // CI's gate: no gofmt, vet or -race tests (CI runs them itself)
	FuzzTime time.Duration // each fuzz target's budget
	// FuzzStart bounds building a fuzz target until its first status line.
	FuzzStart time.Duration
	// FuzzGrace is how long a fuzz run may go on past its budget.
	FuzzGrace time.Duration
	// FuzzCache keeps the inputs fuzzing finds interesting; "" is a new
	// directory for each gate run, so that every run starts from the seeds
	// and testdata/fuzz alone. (A corpus grown over many runs can take
	// longer to replay than a short budget, which would read as 0 execs.)
	FuzzCache string
	Fuzz      *regexp.Regexp // only targets whose "pkg.Name" matches, nil for all
	Verbose   bool
}

// gate runs the release gate in the repository and reports every failure,
// not only the first.
func gate(ctx context.Context, w io.Writer, repo *Repo, o gateOptions) error {
	var errs []error
	do := func(name string, f func() error) {
		s := begin(w, "%s", name)
		if err := s.end(f()); err != nil {
			errs = append(errs, err)
		}
	}
	do("modules: published ones require each other at one release version, no replace", repo.Check)
	do("package docs: every library package has one, opening with a snippet", func() error { return checkDocs(ctx, repo) })
	if !o.Short {
		do("gofmt", func() error { return gofmtCheck(ctx, repo.Root) })
		do("go vet work", func() error {
			_, err := command(ctx, w, o.Verbose, repo.Root, nil, "go", "vet", "work")
			return err
		})
	}
	do("staticcheck "+staticcheckVersion, func() error {
		_, err := command(ctx, w, true, repo.Root, nil, "go", "run", "honnef.co/go/tools/cmd/staticcheck@"+staticcheckVersion, "work")
		return err
	})
	if !o.Short {
		do("go test -race work", func() error {
			_, err := command(ctx, w, true, repo.Root, nil, "go", "test", "-race", "-count=1", "-timeout", "25m", "work")
			return err
		})
	}
	targets, err := fuzzTargets(ctx, repo.Root)
	if err != nil {
		errs = append(errs, err)
	}
	if o.FuzzGrace == 0 {
		o.FuzzGrace = 30 * time.Second
	}
	if o.FuzzCache == "" {
		dir, err := os.MkdirTemp("", "kafkadial-fuzzcache-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.FuzzCache = dir
	}
	for _, t := range targets {
		if o.Fuzz != nil && !o.Fuzz.MatchString(t.Pkg+"."+t.Name) {
			continue
		}
		s := begin(w, "fuzz %s %s for %s", t.Pkg, t.Name, o.FuzzTime)
		res, err := runFuzz(ctx, repo.Root, t, o, w)
		if err == nil {
			fmt.Fprintf(w, "   %d execs in %s (%.0f/s)\n", res.Execs, res.Elapsed, float64(res.Execs)/max(res.Elapsed.Seconds(), 1))
			if res.Note != "" {
				fmt.Fprintf(w, "   counted as passed: %s\n", res.Note)
			}
		}
		if err := s.end(err); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("release gate: %d failed:\n%w", len(errs), err)
	}
	fmt.Fprintln(w, "release gate: passed")
	return nil
}

func gofmtCheck(ctx context.Context, root string) error {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard", "*.go").Output()
	if err != nil {
		return err
	}
	files := strings.Fields(string(out))
	if len(files) == 0 {
		return nil
	}
	res, err := command(ctx, io.Discard, false, root, nil, "gofmt", append([]string{"-l"}, files...)...)
	if err != nil {
		return err
	}
	if res = strings.TrimSpace(res); res != "" {
		return fmt.Errorf("gofmt would change:\n%s", res)
	}
	return nil
}

// checkDocs checks every package of the published modules: a package doc
// comment, and for a library package outside internal/, one that opens
// with a code snippet (after at most its first paragraph).
func checkDocs(ctx context.Context, repo *Repo) error {
	var errs []error
	for _, m := range repo.Modules {
		if !m.Published {
			continue
		}
		dir := filepath.Join(repo.Root, filepath.FromSlash(m.Dir))
		out, err := command(ctx, io.Discard, false, dir, nil, "go", "list", "-f", "{{.ImportPath}}\t{{.Name}}\t{{.Dir}}\t{{join .GoFiles \",\"}}", "./...")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Split(line, "\t")
			if len(f) != 4 {
				continue
			}
			pkg, name, pdir, files := f[0], f[1], f[2], strings.Split(f[3], ",")
			text, err := packageDoc(pdir, files)
			if err != nil {
				return err
			}
			switch {
			case strings.TrimSpace(text) == "":
				errs = append(errs, fmt.Errorf("%s: no package doc comment", pkg))
			case name != "main" && !strings.Contains(pkg, "/internal/") && !opensWithSnippet(text):
				errs = append(errs, fmt.Errorf("%s: the package doc does not open with a code snippet (an indented block right after its first paragraph)", pkg))
			}
		}
	}
	return errors.Join(errs...)
}

func packageDoc(dir string, files []string) (string, error) {
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return "", err
		}
		if f.Doc != nil {
			return f.Doc.Text(), nil
		}
	}
	return "", nil
}

func opensWithSnippet(text string) bool {
	var p comment.Parser
	d := p.Parse(text)
	for i, b := range d.Content {
		if _, ok := b.(*comment.Code); ok {
			return true
		}
		if i >= 1 {
			return false
		}
	}
	return false
}

// A fuzzTarget is one Fuzz function of a package's tests.
type fuzzTarget struct {
	Pkg, Dir, Name string
}

// fuzzTargets finds every FuzzXxx(*testing.F) in the tests of every
// package of the workspace, as go list sees them (build constraints
// applied).
func fuzzTargets(ctx context.Context, root string) ([]fuzzTarget, error) {
	out, err := command(ctx, io.Discard, false, root, nil, "go", "list", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .TestGoFiles \",\"}},{{join .XTestGoFiles \",\"}}", "work")
	if err != nil {
		return nil, err
	}
	var ts []fuzzTarget
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		for _, name := range strings.Split(f[2], ",") {
			if name == "" {
				continue
			}
			fns, err := fuzzFuncs(filepath.Join(f[1], name))
			if err != nil {
				return nil, err
			}
			for _, fn := range fns {
				ts = append(ts, fuzzTarget{Pkg: f[0], Dir: f[1], Name: fn})
			}
		}
	}
	return ts, nil
}

func fuzzFuncs(file string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv != nil || !isTestName(fd.Name.Name, "Fuzz") || len(fd.Type.Params.List) != 1 {
			continue
		}
		if star, ok := fd.Type.Params.List[0].Type.(*ast.StarExpr); ok {
			if sel, ok := star.X.(*ast.SelectorExpr); ok && sel.Sel.Name == "F" {
				names = append(names, fd.Name.Name)
			}
		}
	}
	return names, nil
}

// isTestName is the testing package's rule: prefix, then nothing or a
// character that is not a lower-case letter.
func isTestName(name, prefix string) bool {
	if !strings.HasPrefix(name, prefix) {
		return false
	}
	rest := name[len(prefix):]
	return rest == "" || !('a' <= rest[0] && rest[0] <= 'z')
}

type fuzzResult struct {
	Execs   int64
	Elapsed time.Duration
	// Budget is the -fuzztime the run was given.
	Budget time.Duration
	// Written lists the files the run added under the target's
	// testdata/fuzz directory: the failing inputs it found.
	Written []string
	// Note says why a run go test called failed was counted as passed
	// (see fuzzBoundaryRace).
	Note string
}

var (
	fuzzElapsed = regexp.MustCompile(`^fuzz: elapsed: ([^,]+),`)
	fuzzStatus  = regexp.MustCompile(`^fuzz: elapsed: (\S+), execs: (\d+) `)
)

// runFuzz runs one fuzz target for o.FuzzTime, minimisation off. It fails
// on a failing input (go test writes it under testdata/fuzz), on no
// execution at all, and on a run that does not end: no status line within
// o.FuzzStart (building), or still running o.FuzzGrace past the budget once
// fuzzing began.
func runFuzz(ctx context.Context, root string, t fuzzTarget, o gateOptions, w io.Writer) (fuzzResult, error) {
	budget, start, verbose := o.FuzzTime, o.FuzzStart, o.Verbose
	res := fuzzResult{Budget: budget}
	corpus := filepath.Join(t.Dir, "testdata", "fuzz", t.Name)
	before := listFiles(corpus)
	cmd := exec.Command("go", "test", "-run", "^$", "-fuzz", "^"+t.Name+"$", "-fuzztime", budget.String(), "-fuzzminimizetime", "0", t.Pkg,
		"-args", "-test.fuzzcachedir="+filepath.Join(o.FuzzCache, filepath.FromSlash(t.Pkg)))
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return res, err
	}
	waited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		waited <- err
	}()
	var (
		out     strings.Builder
		started = make(chan struct{})
		lines   = make(chan struct{})
	)
	go func() {
		defer close(lines)
		once := false
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			out.WriteString(line + "\n")
			if verbose {
				fmt.Fprintln(w, "   "+line)
			}
			if m := fuzzElapsed.FindStringSubmatch(line); m != nil {
				res.Elapsed, _ = time.ParseDuration(m[1])
			}
			if m := fuzzStatus.FindStringSubmatch(line); m != nil {
				res.Execs, _ = strconv.ParseInt(m[2], 10, 64)
			}
			if !once && strings.HasPrefix(line, "fuzz: elapsed:") {
				once = true
				close(started)
			}
		}
		io.Copy(io.Discard, pr)
	}()
	kill := func(why string) error {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-waited
		<-lines
		return fmt.Errorf("stalled: %s%s", why, tail(out.String(), 20))
	}
	ended := func(err error) error {
		<-lines
		res.Written = newFiles(before, listFiles(corpus))
		return fuzzEnd(err, &res, out.String())
	}
	timer := time.NewTimer(start)
	defer timer.Stop()
	select {
	case err := <-waited:
		return res, ended(err)
	case <-ctx.Done():
		return res, kill(context.Cause(ctx).Error())
	case <-timer.C:
		return res, kill(fmt.Sprintf("no fuzzing status within %s (building or starting)", start))
	case <-started:
	}
	timer.Reset(budget + o.FuzzGrace)
	select {
	case err := <-waited:
		return res, ended(err)
	case <-ctx.Done():
		return res, kill(context.Cause(ctx).Error())
	case <-timer.C:
		return res, kill(fmt.Sprintf("still running %s after fuzzing began (budget %s): an input that does not return?", budget+o.FuzzGrace, budget))
	}
}

// fuzzEnd judges a fuzz run that ended by itself.
func fuzzEnd(err error, res *fuzzResult, out string) error {
	// An input that never returns ends one of two ways, depending on
	// where the worker is when the deadline passes: go test says PASS
	// (it gives up on the worker), or FAIL with "context deadline
	// exceeded" and no failing input. Both are a stall, not a finding. A
	// budget spent replaying the corpus looks the same.
	const stalled = "stalled: 0 executions in %s (an input that does not return, or a budget shorter than the corpus replay)%s"
	found := len(res.Written) > 0 || strings.Contains(out, "Failing input written to")
	switch {
	case err != nil && !found && res.Execs == 0 && strings.Contains(out, context.DeadlineExceeded.Error()):
		return fmt.Errorf(stalled, res.Elapsed, tail(out, 10))
	case err != nil && !found && res.Execs > 0 && fuzzBoundaryRace(out, res.Budget):
		res.Note = "go test said FAIL \"context deadline exceeded\" at the end of the budget with no failing input: Go's fuzz coordinator racing its own deadline (go.dev/issue/75804, fixed in Go 1.27), not a finding"
		return nil
	case err != nil:
		msg := "failed"
		if len(res.Written) > 0 {
			msg += " (failing input written to " + strings.Join(res.Written, ", ") + ")"
		}
		return fmt.Errorf("%s: %w%s", msg, err, tail(out, 30))
	case res.Execs == 0:
		return fmt.Errorf(stalled, res.Elapsed, tail(out, 10))
	}
	return nil
}

// fuzzFail is the line go test prints for a failed fuzz target.
var fuzzFail = regexp.MustCompile(`^--- FAIL: Fuzz\S* \(([0-9.]+)s\)$`)

// fuzzBoundaryRace reports whether out is the failure Go 1.26's fuzz
// coordinator can report when -fuzztime expires while a worker is busy
// (go.dev/issue/75804), for a run that executed inputs: the target's one
// FAIL came at or after the budget, and its only message is the bare
// "context deadline exceeded" (no file:line of a t.Error, no panic, no
// crashed or hung worker).
func fuzzBoundaryRace(out string, budget time.Duration) bool {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	fails := 0
	for i := 0; i < len(lines); i++ {
		m := fuzzFail.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		fails++
		secs, err := strconv.ParseFloat(m[1], 64)
		if err != nil || time.Duration(secs*float64(time.Second)) < budget {
			return false
		}
		body := 0
		for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "    ") {
			i++
			if lines[i] != "    "+context.DeadlineExceeded.Error() {
				return false
			}
			body++
		}
		if body == 0 {
			return false
		}
	}
	return fails == 1
}

// listFiles names the regular files in dir (none if it does not exist).
func listFiles(dir string) map[string]bool {
	files := map[string]bool{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Type().IsRegular() {
			files[filepath.Join(dir, e.Name())] = true
		}
	}
	return files
}

// newFiles lists the files of after that are not in before, sorted.
func newFiles(before, after map[string]bool) []string {
	var added []string
	for f := range after {
		if !before[f] {
			added = append(added, f)
		}
	}
	slices.Sort(added)
	return added
}
