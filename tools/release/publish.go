package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

// An Edit is what a module becomes at a release version: its go.mod with
// the repository requirements at that version and, for a published module,
// its go.sum with the hashes of those modules, its zip and the hashes Go
// records for it.
type Edit struct {
	Mod     *Module
	GoMod   []byte
	GoSum   []byte // nil for an unpublished module: left as it is
	Zip     string // the module zip, in the proxy layout (published modules)
	ZipHash string // "h1:..." of the zip, as go.sum has it
	ModHash string // "h1:..." of go.mod
}

// setVersion returns m's go.mod with every requirement on a repository
// module at version v.
func (r *Repo) setVersion(m *Module, v string) ([]byte, error) {
	f, err := modfile.Parse(path.Join(m.Dir, "go.mod"), m.Data, nil)
	if err != nil {
		return nil, err
	}
	changed := false
	for _, req := range slices.Clone(f.Require) {
		if r.byPath[req.Mod.Path] != nil && req.Mod.Version != v {
			if err := f.AddRequire(req.Mod.Path, v); err != nil {
				return nil, err
			}
			changed = true
		}
	}
	if !changed {
		return m.Data, nil
	}
	f.Cleanup()
	return modfile.Format(f.Syntax), nil
}

// treeFiles lists the files a commit of the working tree would hold:
// tracked and untracked ones, less those git ignores and those deleted.
func treeFiles(root string) ([]string, error) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files in %s: %w", root, err)
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f == "" {
			continue
		}
		if fi, err := os.Lstat(filepath.Join(root, f)); err == nil && fi.Mode().IsRegular() {
			files = append(files, f)
		}
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

// zipFile is one file of a module zip: from disk, or from memory for the
// go.mod and go.sum a release rewrites.
type zipFile struct {
	rel  string // path inside the module
	disk string // file on disk, when data is nil
	data []byte
}

func (f zipFile) Path() string { return f.rel }

func (f zipFile) Lstat() (fs.FileInfo, error) {
	if f.data != nil {
		return memInfo{name: path.Base(f.rel), size: int64(len(f.data))}, nil
	}
	return os.Lstat(f.disk)
}

func (f zipFile) Open() (io.ReadCloser, error) {
	if f.data != nil {
		return io.NopCloser(bytes.NewReader(f.data)), nil
	}
	return os.Open(f.disk)
}

type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o644 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

// plan computes every module's Edit for version v from the working tree,
// and writes the published modules into proxyDir in the layout GOPROXY
// expects (path/@v/list, .info, .mod, .zip). Published modules are done in
// tag order, so that each go.sum can name the hashes of the modules it
// requires.
func (r *Repo) plan(v, proxyDir string, when time.Time) (map[*Module]*Edit, []*Module, error) {
	order, err := r.Published()
	if err != nil {
		return nil, nil, err
	}
	files, err := treeFiles(r.Root)
	if err != nil {
		return nil, nil, err
	}
	edits := map[*Module]*Edit{}
	for _, m := range r.Modules {
		gomod, err := r.setVersion(m, v)
		if err != nil {
			return nil, nil, err
		}
		edits[m] = &Edit{Mod: m, GoMod: gomod}
	}
	for _, m := range order {
		e := edits[m]
		sum, err := r.goSum(m, v, edits)
		if err != nil {
			return nil, nil, err
		}
		e.GoSum = sum
		if err := r.writeModule(e, v, files, proxyDir, when); err != nil {
			return nil, nil, err
		}
	}
	return edits, order, nil
}

// goSum returns m's go.sum with the lines of repository modules replaced by
// those of the modules m requires, at version v.
func (r *Repo) goSum(m *Module, v string, edits map[*Module]*Edit) ([]byte, error) {
	old, err := os.ReadFile(filepath.Join(r.Root, m.Dir, "go.sum"))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	type line struct {
		mod  module.Version // Version may end in "/go.mod"
		text string
	}
	var lines []line
	sc := bufio.NewScanner(bytes.NewReader(old))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue
		}
		if r.byPath[fields[0]] != nil {
			continue
		}
		lines = append(lines, line{module.Version{Path: fields[0], Version: fields[1]}, strings.Join(fields, " ")})
	}
	for _, d := range r.deps(m) {
		e := edits[d]
		if e.ZipHash == "" {
			return nil, fmt.Errorf("%s requires %s, which has no hash yet (not published?)", m.Path, d.Path)
		}
		lines = append(lines,
			line{module.Version{Path: d.Path, Version: v}, d.Path + " " + v + " " + e.ZipHash},
			line{module.Version{Path: d.Path, Version: v + "/go.mod"}, d.Path + " " + v + "/go.mod " + e.ModHash})
	}
	mods := make([]module.Version, len(lines))
	text := map[module.Version]string{}
	for i, l := range lines {
		mods[i] = l.mod
		text[l.mod] = l.text
	}
	module.Sort(mods)
	var b bytes.Buffer
	for i, mv := range mods {
		if i > 0 && mv == mods[i-1] {
			continue
		}
		b.WriteString(text[mv] + "\n")
	}
	return b.Bytes(), nil
}

// writeModule zips published module e.Mod at version v from the listed
// files (with the edited go.mod and go.sum) into proxyDir and hashes it.
func (r *Repo) writeModule(e *Edit, v string, files []string, proxyDir string, when time.Time) error {
	m := e.Mod
	prefix := ""
	if m.Dir != "." {
		prefix = m.Dir + "/"
	}
	var zfs []modzip.File
	for _, f := range files {
		if !strings.HasPrefix(f, prefix) {
			continue
		}
		rel := strings.TrimPrefix(f, prefix)
		switch rel {
		case "go.mod", "go.sum":
			continue
		}
		zfs = append(zfs, zipFile{rel: rel, disk: filepath.Join(r.Root, filepath.FromSlash(f))})
	}
	zfs = append(zfs, zipFile{rel: "go.mod", data: e.GoMod})
	if len(e.GoSum) > 0 {
		zfs = append(zfs, zipFile{rel: "go.sum", data: e.GoSum})
	}
	esc, err := module.EscapePath(m.Path)
	if err != nil {
		return err
	}
	dir := filepath.Join(proxyDir, filepath.FromSlash(esc), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mv := module.Version{Path: m.Path, Version: v}
	e.Zip = filepath.Join(dir, v+".zip")
	zf, err := os.Create(e.Zip)
	if err != nil {
		return err
	}
	err = modzip.Create(zf, mv, zfs)
	if cerr := zf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", m.Dir, err)
	}
	if e.ZipHash, err = dirhash.HashZip(e.Zip, dirhash.Hash1); err != nil {
		return err
	}
	gomod := e.GoMod
	if e.ModHash, err = dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(gomod)), nil
	}); err != nil {
		return err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{v, when.UTC().Truncate(time.Second)})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, v+".info"), info, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, v+".mod"), e.GoMod, 0o644); err != nil {
		return err
	}
	return addToList(filepath.Join(dir, "list"), v)
}

func addToList(file, v string) error {
	data, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	vs := strings.Fields(string(data))
	if !slices.Contains(vs, v) {
		vs = append(vs, v)
	}
	return os.WriteFile(file, []byte(strings.Join(vs, "\n")+"\n"), 0o644)
}
