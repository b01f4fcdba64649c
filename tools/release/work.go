package main

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"

	"golang.org/x/mod/modfile"
)

// required returns the repository modules that another repository module
// requires, in directory order.
func (r *Repo) required() []*Module {
	var req []*Module
	for _, m := range r.Modules {
		for _, d := range r.deps(m) {
			if !slices.Contains(req, d) {
				req = append(req, d)
			}
		}
	}
	slices.SortFunc(req, func(a, b *Module) int { return slices.Index(r.Modules, a) - slices.Index(r.Modules, b) })
	return req
}

func workDir(m *Module) string {
	if m.Dir == "." {
		return "./"
	}
	return "./" + m.Dir
}

// workReplaces returns go.work's replacements of repository modules.
func (r *Repo) workReplaces() (*modfile.WorkFile, []*modfile.Replace, error) {
	p := filepath.Join(r.Root, "go.work")
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, nil, err
	}
	wf, err := modfile.ParseWork(p, data, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("go.work: %w", err)
	}
	var reps []*modfile.Replace
	for _, rep := range wf.Replace {
		if r.Module(rep.Old.Path) != nil {
			reps = append(reps, rep)
		}
	}
	return wf, reps, nil
}

// setWorkVersion makes go.work replace each repository module that another
// one requires, at version v only, by its directory (replace M v => ./dir),
// and drops replacements of repository modules at other versions. A
// requirement on a workspace module at a version the proxy does not hold
// is otherwise looked up whenever the go command reads the module graph
// (go mod download, go list -m all; package loading needs it for a module
// nested under another module's package, as resolver/docker is), even
// though the workspace's copy is used. A replacement at all versions is
// refused for workspace modules. It reports whether go.work changed.
func setWorkVersion(repo *Repo, v string) (bool, error) {
	wf, reps, err := repo.workReplaces()
	if err != nil {
		return false, err
	}
	changed := false
	want := repo.required()
	for _, rep := range reps {
		m := repo.Module(rep.Old.Path)
		if rep.Old.Version != v || rep.New.Path != workDir(m) || !slices.Contains(want, m) {
			if err := wf.DropReplace(rep.Old.Path, rep.Old.Version); err != nil {
				return false, err
			}
			changed = true
		}
	}
	for _, m := range want {
		if !slices.ContainsFunc(wf.Replace, func(rep *modfile.Replace) bool {
			return rep.Old.Path == m.Path && rep.Old.Version == v && rep.New.Path == workDir(m)
		}) {
			if err := wf.AddReplace(m.Path, v, workDir(m), ""); err != nil {
				return false, err
			}
			changed = true
		}
	}
	if !changed {
		return false, nil
	}
	wf.Cleanup()
	return true, os.WriteFile(filepath.Join(repo.Root, "go.work"), modfile.Format(wf.Syntax), 0o644)
}

// checkWorkReplaces checks what setWorkVersion writes, at the version the
// modules require each other at.
func (r *Repo) checkWorkReplaces() error {
	v := r.TreeVersion()
	if v == "" {
		return nil
	}
	_, reps, err := r.workReplaces()
	if err != nil {
		return err
	}
	var errs []error
	want := r.required()
	for _, m := range want {
		if !slices.ContainsFunc(reps, func(rep *modfile.Replace) bool {
			return rep.Old.Path == m.Path && rep.Old.Version == v && path.Clean(rep.New.Path) == path.Clean(workDir(m))
		}) {
			errs = append(errs, fmt.Errorf("go.work: no \"replace %s %s => %s\" (without it the go command looks %s@%s up on the proxy); run: go run ./tools/release setversion %s", m.Path, v, workDir(m), m.Path, v, v))
		}
	}
	for _, rep := range reps {
		m := r.Module(rep.Old.Path)
		if rep.Old.Version != v || !slices.Contains(want, m) {
			errs = append(errs, fmt.Errorf("go.work: replace %s %s => %s: want only the repository's required modules at %s", rep.Old.Path, rep.Old.Version, rep.New.Path, v))
		}
	}
	return errors.Join(errs...)
}
