package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// unpublished lists the module directories (and everything below them)
// that are never tagged: nobody depends on them. Each one's go.mod also
// opens with a comment that starts "// Unpublished:", and the module check
// keeps the two in step.
var unpublished = []string{"examples", "integration", "tools/release"}

const unpublishedMarker = "// Unpublished:"

// A Module is one go.mod of the repository.
type Module struct {
	Dir       string // slash-separated, relative to the repository root; "." for the root
	Path      string // module path
	Published bool
	File      *modfile.File
	Data      []byte // go.mod as read
}

// Tag returns the tag that releases the module at version v: "v0.1.0" for
// the root module, "adapters/franzdial/v0.1.0" for a nested one.
func (m *Module) Tag(v string) string {
	if m.Dir == "." {
		return v
	}
	return m.Dir + "/" + v
}

// slug names the module in file names: "root", "adapters-franzdial".
func (m *Module) slug() string {
	if m.Dir == "." {
		return "root"
	}
	return strings.ReplaceAll(m.Dir, "/", "-")
}

// Repo is the repository's modules, the root module first.
type Repo struct {
	Root    string // absolute directory
	Modules []*Module
	byPath  map[string]*Module
}

func isUnpublishedDir(dir string) bool {
	for _, u := range unpublished {
		if dir == u || strings.HasPrefix(dir, u+"/") {
			return true
		}
	}
	return false
}

// loadRepo finds every go.mod below root, skipping testdata, vendor and
// directories Go ignores (names starting with "." or "_").
func loadRepo(root string) (*Repo, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	r := &Repo{Root: root, byPath: map[string]*Module{}}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if name != "go.mod" {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := modfile.Parse(p, data, nil)
		if err != nil {
			return err
		}
		if f.Module == nil {
			return fmt.Errorf("%s: no module line", p)
		}
		dir := filepath.ToSlash(rel)
		r.Modules = append(r.Modules, &Module{Dir: dir, Path: f.Module.Mod.Path, Published: !isUnpublishedDir(dir), File: f, Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(r.Modules, func(a, b *Module) int {
		if a.Dir == "." || b.Dir == "." {
			return boolCmp(a.Dir != ".", b.Dir != ".")
		}
		return strings.Compare(a.Dir, b.Dir)
	})
	if len(r.Modules) == 0 || r.Modules[0].Dir != "." {
		return nil, fmt.Errorf("%s: no go.mod at the repository root", root)
	}
	for _, m := range r.Modules {
		r.byPath[m.Path] = m
	}
	return r, nil
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// RootPath is the root module's path.
func (r *Repo) RootPath() string { return r.Modules[0].Path }

// Module returns the repository module with the given path, or nil.
func (r *Repo) Module(path string) *Module { return r.byPath[path] }

// Published returns the published modules in tag order: a module after
// every repository module it requires (the root first), ties by directory.
func (r *Repo) Published() ([]*Module, error) {
	var pub []*Module
	for _, m := range r.Modules {
		if m.Published {
			pub = append(pub, m)
		}
	}
	return r.topo(pub)
}

// deps returns the repository modules m requires.
func (r *Repo) deps(m *Module) []*Module {
	var ds []*Module
	for _, req := range m.File.Require {
		if d := r.byPath[req.Mod.Path]; d != nil && d != m {
			ds = append(ds, d)
		}
	}
	return ds
}

func (r *Repo) topo(mods []*Module) ([]*Module, error) {
	in := map[*Module]bool{}
	for _, m := range mods {
		in[m] = true
	}
	done := map[*Module]bool{}
	var order []*Module
	for len(order) < len(mods) {
		progress := false
		for _, m := range mods { // mods is sorted by directory, the root first
			if done[m] {
				continue
			}
			ready := true
			for _, d := range r.deps(m) {
				if in[d] && !done[d] {
					ready = false
				}
			}
			if ready {
				done[m] = true
				order = append(order, m)
				progress = true
				break // restart from the first: lowest directory first among the ready ones
			}
		}
		if !progress {
			var stuck []string
			for _, m := range mods {
				if !done[m] {
					stuck = append(stuck, m.Dir)
				}
			}
			return nil, fmt.Errorf("modules require each other in a cycle: %s", strings.Join(stuck, ", "))
		}
	}
	return order, nil
}

// TreeVersion is the version at which the modules require each other
// (every such requirement names the same one), or "" if none does.
func (r *Repo) TreeVersion() string {
	for _, m := range r.Modules {
		for _, req := range m.File.Require {
			if r.byPath[req.Mod.Path] != nil {
				return req.Mod.Version
			}
		}
	}
	return ""
}

// Check reports what keeps the modules from being published as a set:
// a published module with a replace or exclude directive, a module path
// that does not match its directory (tags are named after directories), a
// published module requiring an unpublished one, requirements between
// modules at more than one version or at a pseudo-version, markers out of
// step with the unpublished list, and modules missing from go.work.
func (r *Repo) Check() error {
	var errs []error
	fail := func(m *Module, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path.Join(m.Dir, "go.mod"), fmt.Sprintf(format, args...)))
	}
	root := r.RootPath()
	versions := map[string][]string{}
	for _, m := range r.Modules {
		want := root
		if m.Dir != "." {
			want = root + "/" + m.Dir
		}
		if m.Path != want {
			fail(m, "module %s, want %s: a module's path must be the root path plus its directory for its tags to work", m.Path, want)
		}
		marked := strings.HasPrefix(strings.TrimSpace(string(m.Data)), unpublishedMarker)
		switch {
		case m.Published && marked:
			fail(m, "says %q but is not in the release tool's unpublished list %v", unpublishedMarker, unpublished)
		case !m.Published && !marked:
			fail(m, "is unpublished (release tool list %v) but does not open with a %q comment", unpublished, unpublishedMarker)
		}
		for _, req := range m.File.Require {
			d := r.byPath[req.Mod.Path]
			if d == nil {
				continue
			}
			v := req.Mod.Version
			versions[v] = append(versions[v], m.Dir)
			if !semver.IsValid(v) || module.IsPseudoVersion(v) || semver.Build(v) != "" {
				fail(m, "requires %s at %s: want a release version such as v0.1.0", d.Path, v)
			}
			if m.Published && !d.Published {
				fail(m, "requires %s, which is not published", d.Path)
			}
		}
		if m.Published {
			for _, rep := range m.File.Replace {
				fail(m, "replace %s: a published module has no replace directive (Go ignores it in a dependency and go install refuses it)", rep.Old.Path)
			}
			for _, ex := range m.File.Exclude {
				fail(m, "exclude %s: a published module has no exclude directive", ex.Mod.Path)
			}
		} else {
			replaced := map[string]bool{}
			for _, rep := range m.File.Replace {
				replaced[rep.Old.Path] = true
			}
			for _, req := range m.File.Require {
				if r.byPath[req.Mod.Path] != nil && !replaced[req.Mod.Path] {
					fail(m, "requires %s but does not replace it by its directory: an unpublished module builds against this tree, in and out of the workspace", req.Mod.Path)
				}
			}
			for _, rep := range m.File.Replace {
				if d := r.byPath[rep.Old.Path]; d == nil || !modfile.IsDirectoryPath(rep.New.Path) ||
					path.Clean(path.Join(m.Dir, rep.New.Path)) != d.Dir {
					fail(m, "replace %s => %s: an unpublished module may only replace repository modules by their directories", rep.Old.Path, rep.New.Path)
				}
			}
		}
	}
	if len(versions) > 1 {
		var vs []string
		for v, dirs := range versions {
			vs = append(vs, fmt.Sprintf("%s (%s)", v, strings.Join(dirs, ", ")))
		}
		slices.Sort(vs)
		errs = append(errs, fmt.Errorf("the modules require each other at more than one version: %s; run: go run ./tools/release setversion VERSION", strings.Join(vs, "; ")))
	}
	if _, err := r.Published(); err != nil {
		errs = append(errs, err)
	}
	if err := r.checkWork(); err != nil {
		errs = append(errs, err)
	}
	if len(versions) <= 1 {
		if err := r.checkWorkReplaces(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkWork checks that go.work uses exactly the repository's modules.
func (r *Repo) checkWork() error {
	p := filepath.Join(r.Root, "go.work")
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("go.work: %w", err)
	}
	wf, err := modfile.ParseWork(p, data, nil)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, u := range wf.Use {
		used[path.Clean(filepath.ToSlash(u.Path))] = true
	}
	var errs []error
	for _, m := range r.Modules {
		if !used[m.Dir] {
			errs = append(errs, fmt.Errorf("go.work: module %s (%s) is missing: go work use ./%s", m.Path, m.Dir, m.Dir))
		}
		delete(used, m.Dir)
	}
	for u := range used {
		errs = append(errs, fmt.Errorf("go.work: use %s: no module there", u))
	}
	return errors.Join(errs...)
}
