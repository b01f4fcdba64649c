package main

import (
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// consumersDir holds the rehearsal's consumer programs, one directory with
// a main.go each, relative to the repository root.
const consumersDir = "tools/release/testdata/consumers"

// A proxyEnv is a module proxy on disk holding the repository's published
// modules at one version, and the environment that makes the go command
// take them from it, as a user would take them from the public proxy.
type proxyEnv struct {
	repo    *Repo
	version string
	edits   map[*Module]*Edit
	order   []*Module // published modules in tag order
	work    string    // temporary directory holding everything below
	proxy   string
	env     []string
	w       io.Writer
	verbose bool
}

// newProxyEnv publishes the working tree's modules at version into a file
// proxy in a new temporary directory. Other modules come from the module
// cache (as a file proxy too, for speed) and then from the configured
// GOPROXY. The go command runs with a module cache of its own, so the
// versions published here never reach the user's module cache.
func newProxyEnv(ctx context.Context, w io.Writer, repo *Repo, version string, verbose bool) (*proxyEnv, error) {
	work, err := os.MkdirTemp("", "kafkadial-release-")
	if err != nil {
		return nil, err
	}
	p := &proxyEnv{repo: repo, version: version, work: work, proxy: filepath.Join(work, "proxy"), w: w, verbose: verbose}
	if rel, err := filepath.Rel(repo.Root, work); err == nil && !strings.HasPrefix(rel, "..") {
		p.close()
		return nil, fmt.Errorf("the temporary directory %s is inside the repository: set TMPDIR elsewhere", work)
	}
	if p.edits, p.order, err = repo.plan(version, p.proxy, time.Now()); err != nil {
		p.close()
		return nil, err
	}
	modcache, err := goEnv(ctx, "GOMODCACHE")
	if err != nil {
		p.close()
		return nil, err
	}
	upstream, err := goEnv(ctx, "GOPROXY")
	if err != nil {
		p.close()
		return nil, err
	}
	goproxy := "file://" + filepath.ToSlash(p.proxy)
	if modcache != "" {
		goproxy += ",file://" + filepath.ToSlash(filepath.Join(modcache, "cache", "download"))
	}
	if upstream != "" {
		goproxy += "," + upstream
	}
	p.env = []string{
		"GOPROXY=" + goproxy,
		"GOMODCACHE=" + filepath.Join(work, "modcache"),
		// Not in the checksum database (yet): take the proxy's hashes.
		// GOPRIVATE and GONOPROXY stay empty: they would bypass the proxy.
		"GONOSUMDB=" + repo.RootPath(),
		"GOPRIVATE=",
		"GONOPROXY=",
		"GOWORK=off",
		// -trimpath keys the build cache by module@version instead of
		// directory: the module cache here is new each time, and without
		// it every dependency would be compiled again on each run.
		"GOFLAGS=-mod=mod -modcacherw -trimpath",
		"GOBIN=" + filepath.Join(work, "bin"),
	}
	return p, nil
}

func (p *proxyEnv) close() {
	os.RemoveAll(p.work)
}

func (p *proxyEnv) run(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	if p.verbose {
		fmt.Fprintf(p.w, "$ %s %s\n", name, strings.Join(args, " "))
	}
	return command(ctx, p.w, p.verbose, dir, append(slices.Clone(p.env), env...), name, args...)
}

// freshModule makes an empty module outside the repository.
func (p *proxyEnv) freshModule(ctx context.Context, name string) (string, error) {
	dir := filepath.Join(p.work, "use", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	_, err := p.run(ctx, dir, nil, "go", "mod", "init", "rehearsal.example/"+name)
	return dir, err
}

// rehearse checks, from outside the repository and against the proxy
// only, what a user of the release would do.
func (p *proxyEnv) rehearse(ctx context.Context) error {
	fmt.Fprintf(p.w, "rehearsal: %d published modules at %s in %s\n", len(p.order), p.version, p.proxy)
	var mains []string
	for _, m := range p.order {
		s := begin(p.w, "%s builds alone (GOWORK=off, -mod=readonly, its own go.sum)", m.Tag(p.version))
		libs, cmds, err := p.alone(ctx, m)
		if err = s.end(err); err != nil {
			return err
		}
		mains = append(mains, cmds...)
		if len(libs) == 0 {
			continue
		}
		s = begin(p.w, "go get %s@%s in a fresh module; go build %d packages", m.Path, p.version, len(libs))
		if err = s.end(p.use(ctx, m, libs)); err != nil {
			return err
		}
	}
	consumers, err := p.consumers()
	if err != nil {
		return err
	}
	for _, c := range consumers {
		s := begin(p.w, "consumer %s: go get, build, run", c)
		if err := s.end(p.consumer(ctx, c)); err != nil {
			return err
		}
	}
	for _, pkg := range mains {
		s := begin(p.w, "go install %s@%s; %s version", pkg, p.version, path.Base(pkg))
		if err := s.end(p.install(ctx, pkg)); err != nil {
			return err
		}
	}
	s := begin(p.w, "the module cache holds exactly the published zips")
	return s.end(p.checkCache())
}

// alone unzips m as the proxy serves it, loads all its packages with their
// tests and builds them, with GOWORK=off and -mod=readonly: its go.mod and
// go.sum are complete against the published versions. It returns m's library and
// command packages.
func (p *proxyEnv) alone(ctx context.Context, m *Module) (libs, mains []string, err error) {
	dir := filepath.Join(p.work, "src", filepath.FromSlash(m.Dir))
	if err := modzip.Unzip(dir, module.Version{Path: m.Path, Version: p.version}, p.edits[m].Zip); err != nil {
		return nil, nil, err
	}
	ro := []string{"GOFLAGS=-mod=readonly -modcacherw -trimpath"}
	// Loading every package with its tests needs every go.sum line a
	// developer's GOWORK=off build needs; building proves the packages.
	if _, err := p.run(ctx, dir, ro, "go", "list", "-deps", "-test", "./..."); err != nil {
		return nil, nil, err
	}
	if _, err := p.run(ctx, dir, ro, "go", "build", "./..."); err != nil {
		return nil, nil, err
	}
	out, err := p.run(ctx, dir, ro, "go", "list", "-f", "{{.Name}} {{.ImportPath}}", "./...")
	if err != nil {
		return nil, nil, err
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, pkg, ok := strings.Cut(line, " ")
		switch {
		case !ok:
		case name == "main" && isInternal(pkg):
			// A program the tests use (internal/dockertest/tcpname): built
			// above, but nobody installs it.
		case name == "main":
			mains = append(mains, pkg)
		default:
			libs = append(libs, pkg)
		}
	}
	return libs, mains, nil
}

// use gets m into a fresh module and builds its library packages there.
func (p *proxyEnv) use(ctx context.Context, m *Module, libs []string) error {
	dir, err := p.freshModule(ctx, "lib-"+m.slug())
	if err != nil {
		return err
	}
	if _, err := p.run(ctx, dir, nil, "go", "get", m.Path+"@"+p.version); err != nil {
		return err
	}
	if _, err := p.run(ctx, dir, nil, "go", append([]string{"build"}, libs...)...); err != nil {
		return err
	}
	return p.checkVersions(ctx, dir)
}

// checkVersions checks that every repository module in dir's build list is
// at the rehearsed version.
func (p *proxyEnv) checkVersions(ctx context.Context, dir string) error {
	out, err := p.run(ctx, dir, nil, "go", "list", "-m", "all")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && p.repo.Module(f[0]) != nil && f[1] != p.version {
			return fmt.Errorf("build list has %s, want %s", line, p.version)
		}
	}
	return nil
}

func (p *proxyEnv) consumers() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(p.repo.Root, consumersDir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// consumer builds and runs one consumer program in a fresh module, after
// go get of each published module it imports from.
func (p *proxyEnv) consumer(ctx context.Context, name string) error {
	src := filepath.Join(p.repo.Root, consumersDir, name, "main.go")
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	f, err := parser.ParseFile(token.NewFileSet(), src, data, parser.ImportsOnly)
	if err != nil {
		return err
	}
	var gets []string
	for _, imp := range f.Imports {
		ip, _ := strconv.Unquote(imp.Path.Value)
		if m := p.owner(ip); m != nil && !slices.Contains(gets, m.Path+"@"+p.version) {
			if !m.Published {
				return fmt.Errorf("%s imports %s from unpublished module %s", src, ip, m.Path)
			}
			gets = append(gets, m.Path+"@"+p.version)
		}
	}
	if len(gets) == 0 {
		return fmt.Errorf("%s imports no published module", src)
	}
	dir, err := p.freshModule(ctx, "consumer-"+name)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), data, 0o644); err != nil {
		return err
	}
	if _, err := p.run(ctx, dir, nil, "go", append([]string{"get"}, gets...)...); err != nil {
		return err
	}
	bin := filepath.Join(dir, name)
	if _, err := p.run(ctx, dir, nil, "go", "build", "-o", bin, "."); err != nil {
		return err
	}
	if err := p.checkVersions(ctx, dir); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := command(rctx, p.w, p.verbose, dir, nil, bin)
	if err == nil && p.verbose {
		fmt.Fprint(p.w, out)
	}
	return err
}

// owner returns the repository module that holds package ip, or nil.
func (p *proxyEnv) owner(ip string) *Module {
	var best *Module
	for _, m := range p.repo.Modules {
		if (ip == m.Path || strings.HasPrefix(ip, m.Path+"/")) && (best == nil || len(m.Path) > len(best.Path)) {
			best = m
		}
	}
	return best
}

// install go-installs a command at the version and checks that its
// version command names that module version and the Go version.
func (p *proxyEnv) install(ctx context.Context, pkg string) error {
	dir, err := p.freshModule(ctx, "install-"+path.Base(pkg))
	if err != nil {
		return err
	}
	if _, err := p.run(ctx, dir, nil, "go", "install", pkg+"@"+p.version); err != nil {
		return err
	}
	goVersion, err := goEnv(ctx, "GOVERSION")
	if err != nil {
		return err
	}
	name := path.Base(pkg)
	bin := filepath.Join(p.work, "bin", name)
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	out, err := command(ctx, p.w, false, dir, nil, bin, "version")
	if err != nil {
		return err
	}
	want := fmt.Sprintf("%s %s %s %s/%s\n", name, p.version, goVersion, runtime.GOOS, runtime.GOARCH)
	if out != want {
		return fmt.Errorf("%s version printed %q, want %q", name, out, want)
	}
	fmt.Fprintf(p.w, "%s", out)
	return nil
}

// checkCache checks that each published module the rehearsal downloaded
// came from the proxy written here: same hash.
func (p *proxyEnv) checkCache() error {
	n := 0
	for _, m := range p.order {
		esc, err := module.EscapePath(m.Path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(filepath.Join(p.work, "modcache", "cache", "download", filepath.FromSlash(esc), "@v", p.version+".ziphash"))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(data)); got != p.edits[m].ZipHash {
			return fmt.Errorf("%s@%s in the module cache has hash %s, the proxy's is %s", m.Path, p.version, got, p.edits[m].ZipHash)
		}
		n++
	}
	if n != len(p.order) {
		return fmt.Errorf("%d of %d published modules were downloaded", n, len(p.order))
	}
	return nil
}

// isInternal reports whether pkg is an internal package, which no one
// outside the module can import or install.
func isInternal(pkg string) bool {
	return strings.HasSuffix(pkg, "/internal") || strings.Contains(pkg, "/internal/")
}
