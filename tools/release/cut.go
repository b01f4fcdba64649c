package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

type platform struct{ OS, Arch string }

// platforms are the ones each command is built for.
var platforms = []platform{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

type cutOptions struct {
	DryRun  bool
	Gate    string // "full", "short" or "none"
	GateOpt gateOptions
	Out     string // where binaries and SHA256SUMS go; default dist/VERSION in the repository
	Keep    bool   // dry run: keep the clone
	// CloneDir is where a dry run clones (an empty or new directory, kept);
	// "" is a new temporary directory.
	CloneDir string
	Verbose  bool
	// Platforms to build for instead of all of platforms (tests).
	Platforms []platform
}

// cutResult says what a release did.
type cutResult struct {
	Commit   string
	Tags     []string // in the order they were created, the order to push them
	Binaries []string // file names in Out, with SHA256SUMS last
	Out      string
	Clone    string // the dry run's clone, if kept
}

// checkVersion accepts a canonical semantic version with major version 0
// or 1 (v2 and up would need /v2 module paths).
func checkVersion(v string) error {
	if !semver.IsValid(v) || semver.Canonical(v) != v || semver.Build(v) != "" {
		return fmt.Errorf("version %q: want a semantic version such as v0.1.0 (no build metadata)", v)
	}
	if m := semver.Major(v); m != "v0" && m != "v1" {
		return fmt.Errorf("version %s: major version %s needs module paths ending in /%s; not supported", v, m, m)
	}
	return nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := command(ctx, io.Discard, false, dir, nil, "git", args...)
	return strings.TrimSpace(out), err
}

// cut releases the repository at root as version v: the gate, the
// requirements and go.sum lines rewritten in one commit, the tags in tag
// order, then a rehearsal against the tagged tree and the commands built
// from it for every platform. With DryRun it does all of it in a temporary
// clone of HEAD and leaves root alone.
func cut(ctx context.Context, w io.Writer, root, v string, o cutOptions) (*cutResult, error) {
	if err := checkVersion(v); err != nil {
		return nil, err
	}
	top, err := git(ctx, root, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, err
	}
	root = top
	keptClone := ""
	status, err := git(ctx, root, "status", "--porcelain")
	if err != nil {
		return nil, err
	}
	if o.DryRun {
		if status != "" {
			fmt.Fprintf(w, "dry run: the working tree has changes; the clone holds HEAD without them\n")
		}
		clone := o.CloneDir
		if clone == "" {
			if clone, err = os.MkdirTemp("", "kafkadial-dry-run-"); err != nil {
				return nil, err
			}
		} else {
			o.Keep = true
		}
		if o.Keep {
			fmt.Fprintf(w, "dry run: clone kept in %s\n", clone)
			keptClone = clone
		} else {
			defer os.RemoveAll(clone)
		}
		if _, err := git(ctx, root, "clone", "--quiet", "--no-hardlinks", root, clone); err != nil {
			return nil, err
		}
		for _, kv := range [][2]string{{"user.name", "kafkadial release dry run"}, {"user.email", "release@dry-run.invalid"}} {
			if _, err := git(ctx, clone, "config", kv[0], kv[1]); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(w, "dry run: releasing %s in a clone of HEAD (%s); %s is left alone\n", v, clone, root)
		root = clone
	} else if status != "" {
		return nil, fmt.Errorf("the working tree has changes; commit or stash them first:\n%s", status)
	}
	if o.Out == "" {
		o.Out = filepath.Join(root, "dist", v)
	}
	repo, err := loadRepo(root)
	if err != nil {
		return nil, err
	}
	order, err := repo.Published()
	if err != nil {
		return nil, err
	}
	for _, m := range order {
		if _, err := git(ctx, root, "rev-parse", "--verify", "--quiet", "refs/tags/"+m.Tag(v)); err == nil {
			return nil, fmt.Errorf("tag %s exists already", m.Tag(v))
		}
	}

	if err := checkChangelog(root, v); err != nil {
		if !o.DryRun {
			return nil, err
		}
		fmt.Fprintf(w, "dry run: %v\n", err)
	}

	switch o.Gate {
	case "full", "short":
		g := o.GateOpt
		g.Short = o.Gate == "short"
		if err := gate(ctx, w, repo, g); err != nil {
			return nil, err
		}
	case "none":
		if !o.DryRun {
			return nil, fmt.Errorf("-gate=none is for dry runs only")
		}
		fmt.Fprintln(w, "gate: skipped (dry run)")
	default:
		return nil, fmt.Errorf("-gate=%s: want full, short or none", o.Gate)
	}

	// Rewrite and commit. plan also publishes into a proxy; that one is
	// thrown away: the rehearsal below publishes the committed tree again.
	s := begin(w, "requirements at %s, go.sum lines of the modules' own hashes", v)
	scratch, err := os.MkdirTemp("", "kafkadial-plan-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	// go.work first: it is a file of the root module, so its zip and hash
	// (which the other modules' go.sum lines name) include it.
	changed, err := setWorkVersion(repo, v)
	if err == nil && changed {
		_, err = git(ctx, root, "add", "go.work")
	}
	var edits map[*Module]*Edit
	if err == nil {
		edits, _, err = repo.plan(v, scratch, time.Now())
	}
	if err == nil {
		err = writeEdits(ctx, root, edits)
	}
	if err = s.end(err); err != nil {
		return nil, err
	}
	res := &cutResult{Out: o.Out, Clone: keptClone}
	if status, err = git(ctx, root, "status", "--porcelain"); err != nil {
		return nil, err
	}
	if status != "" {
		if _, err := git(ctx, root, "commit", "--quiet", "-m", "release "+v+": the modules require each other at "+v); err != nil {
			return nil, err
		}
	}
	if res.Commit, err = git(ctx, root, "rev-parse", "HEAD"); err != nil {
		return nil, err
	}
	if repo, err = loadRepo(root); err != nil {
		return nil, err
	}
	if err := repo.Check(); err != nil {
		return nil, fmt.Errorf("after the rewrite: %w", err)
	}

	// Rehearse against the committed tree before tagging: the zips must be
	// the ones the go.sum lines name, and a user must be able to use them.
	p, err := newProxyEnv(ctx, w, repo, v, o.Verbose)
	if err != nil {
		return nil, err
	}
	defer p.close()
	for m, e := range edits {
		if e.ZipHash != "" && p.edits[repoModule(repo, m)].ZipHash != e.ZipHash {
			return nil, fmt.Errorf("%s: the committed tree zips to %s, the go.sum lines say %s", m.Dir, p.edits[repoModule(repo, m)].ZipHash, e.ZipHash)
		}
	}
	if err := p.rehearse(ctx); err != nil {
		return nil, err
	}

	s = begin(w, "tags in tag order")
	for _, m := range p.order {
		tag := m.Tag(v)
		if _, err := git(ctx, root, "tag", "-a", "-m", m.Path+" "+v, tag, res.Commit); err != nil {
			return nil, s.end(err)
		}
		fmt.Fprintln(w, "   "+tag)
		res.Tags = append(res.Tags, tag)
	}
	s.end(nil)

	pls := o.Platforms
	if pls == nil {
		pls = platforms
	}
	s = begin(w, "commands for %d platforms into %s", len(pls), o.Out)
	res.Binaries, err = p.buildCommands(ctx, o.Out, pls)
	if err = s.end(err); err != nil {
		return nil, err
	}

	fmt.Fprintf(w, "\nreleased %s at %s into %s:\n", v, res.Commit, o.Out)
	sums, err := os.ReadFile(filepath.Join(o.Out, "SHA256SUMS"))
	if err != nil {
		return nil, err
	}
	w.Write(sums)
	if o.DryRun {
		fmt.Fprintf(w, "dry run: nothing was changed in the repository; tags were made in the clone only\n")
	} else {
		fmt.Fprintf(w, "\nnext: push the commit, then the tags in this order:\n   git push origin HEAD\n")
		for _, t := range res.Tags {
			fmt.Fprintf(w, "   git push origin %s\n", t)
		}
	}
	return res, nil
}

// checkChangelog wants a "## VERSION — DATE" heading in CHANGELOG.md.
func checkChangelog(root, v string) error {
	data, err := os.ReadFile(filepath.Join(root, "CHANGELOG.md"))
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("CHANGELOG.md: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if line == "## "+v || strings.HasPrefix(line, "## "+v+" ") {
			if strings.Contains(strings.ToLower(line), "unreleased") {
				return fmt.Errorf("CHANGELOG.md: %q: put the release date in place of \"unreleased\"", line)
			}
			return nil
		}
	}
	return fmt.Errorf("CHANGELOG.md has no \"## %s — DATE\" heading", v)
}

// repoModule finds the module of repo at m's directory (after a reload).
func repoModule(repo *Repo, m *Module) *Module {
	for _, x := range repo.Modules {
		if x.Dir == m.Dir {
			return x
		}
	}
	return nil
}

func writeEdits(ctx context.Context, root string, edits map[*Module]*Edit) error {
	for m, e := range edits {
		dir := filepath.Join(root, filepath.FromSlash(m.Dir))
		if string(e.GoMod) != string(m.Data) {
			if err := os.WriteFile(filepath.Join(dir, "go.mod"), e.GoMod, 0o644); err != nil {
				return err
			}
			if _, err := git(ctx, root, "add", path.Join(m.Dir, "go.mod")); err != nil {
				return err
			}
		}
		if e.GoSum != nil {
			if err := os.WriteFile(filepath.Join(dir, "go.sum"), e.GoSum, 0o644); err != nil {
				return err
			}
			if _, err := git(ctx, root, "add", path.Join(m.Dir, "go.sum")); err != nil {
				return err
			}
		}
	}
	return nil
}

// buildCommands go-installs every command of the published modules from
// the proxy, as a user would, for each platform, and writes them with a
// SHA256SUMS file into out.
func (p *proxyEnv) buildCommands(ctx context.Context, out string, pls []platform) ([]string, error) {
	var cmds []string
	for _, m := range p.order {
		dir := filepath.Join(p.work, "src", filepath.FromSlash(m.Dir))
		res, err := p.run(ctx, dir, []string{"GOFLAGS=-mod=readonly -modcacherw"}, "go", "list", "-f", "{{if eq .Name \"main\"}}{{.ImportPath}}{{end}}", "./...")
		if err != nil {
			return nil, err
		}
		for _, pkg := range strings.Fields(res) {
			if !isInternal(pkg) {
				cmds = append(cmds, pkg)
			}
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	gopath := filepath.Join(p.work, "gopath")
	var names []string
	var sums strings.Builder
	for _, pkg := range cmds {
		for _, pl := range pls {
			env := []string{"GOOS=" + pl.OS, "GOARCH=" + pl.Arch, "CGO_ENABLED=0", "GOBIN=", "GOPATH=" + gopath}
			if _, err := p.run(ctx, p.work, env, "go", "install", "-trimpath", "-ldflags=-s -w", pkg+"@"+p.version); err != nil {
				return nil, err
			}
			exe := path.Base(pkg)
			if pl.OS == "windows" {
				exe += ".exe"
			}
			built := filepath.Join(gopath, "bin", pl.OS+"_"+pl.Arch, exe)
			if _, err := os.Stat(built); err != nil { // the host's platform goes to bin itself
				built = filepath.Join(gopath, "bin", exe)
			}
			name := fmt.Sprintf("%s_%s_%s_%s", path.Base(pkg), p.version, pl.OS, pl.Arch)
			if pl.OS == "windows" {
				name += ".exe"
			}
			data, err := os.ReadFile(built)
			if err != nil {
				return nil, err
			}
			if err := os.Remove(built); err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(out, name), data, 0o755); err != nil {
				return nil, err
			}
			sum := sha256.Sum256(data)
			fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), name)
			names = append(names, name)
		}
	}
	if err := os.WriteFile(filepath.Join(out, "SHA256SUMS"), []byte(sums.String()), 0o644); err != nil {
		return nil, err
	}
	return append(names, "SHA256SUMS"), nil
}
