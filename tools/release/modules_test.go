package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func dirs(ms []*Module) string {
	var ds []string
	for _, m := range ms {
		ds = append(ds, m.Dir)
	}
	return strings.Join(ds, " ")
}

func TestTagOrder(t *testing.T) {
	repo, err := loadRepo(fakeRepo(t, false))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dirs(repo.Modules), ". adapters/a cmd/tool examples lib/b"; got != want {
		t.Errorf("modules %q, want %q (testdata skipped)", got, want)
	}
	order, err := repo.Published()
	if err != nil {
		t.Fatal(err)
	}
	// cmd/tool requires lib/b: it comes after it, although "cmd" < "lib".
	if got, want := dirs(order), ". adapters/a lib/b cmd/tool"; got != want {
		t.Errorf("tag order %q, want %q", got, want)
	}
	var tags []string
	for _, m := range order {
		tags = append(tags, m.Tag("v0.2.0"))
	}
	if got, want := strings.Join(tags, " "), "v0.2.0 adapters/a/v0.2.0 lib/b/v0.2.0 cmd/tool/v0.2.0"; got != want {
		t.Errorf("tags %q, want %q", got, want)
	}
	if err := repo.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	if v := repo.TreeVersion(); v != "v0.1.0" {
		t.Errorf("TreeVersion %q", v)
	}

	// Without go.work's replacements the go command would look the
	// required modules up on the proxy.
	writeFile(t, repo.Root, "go.work", "go 1.26.0\n\nuse (\n\t.\n\t./adapters/a\n\t./cmd/tool\n\t./examples\n\t./lib/b\n)\n\nreplace example.com/fake/cmd/tool v0.1.0 => ./cmd/tool\n")
	err = repo.Check()
	for _, want := range []string{
		`go.work: no "replace example.com/fake v0.1.0 => ./"`,
		`go.work: no "replace example.com/fake/lib/b v0.1.0 => ./lib/b"`,
		"go.work: replace example.com/fake/cmd/tool v0.1.0 => ./cmd/tool: want only the repository's required modules at v0.1.0",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check without go.work's replacements: %v; want %q", err, want)
		}
	}
}

func TestTagOrderRefusesCycle(t *testing.T) {
	root := fakeRepo(t, false)
	os.MkdirAll(filepath.Join(root, "lib", "b"), 0o755)
	writeFile(t, root, "lib/b/go.mod", "module example.com/fake/lib/b\n\ngo 1.26.0\n\nrequire example.com/fake/cmd/tool v0.1.0\n")
	repo, err := loadRepo(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Published(); err == nil || !strings.Contains(err.Error(), "cycle: cmd/tool, lib/b") {
		t.Errorf("Published: %v, want a cycle between cmd/tool and lib/b", err)
	}
}

func TestCheckReportsEveryProblem(t *testing.T) {
	root := fakeRepo(t, false)
	writeFile(t, root, "adapters/a/go.mod", "module example.com/fake/adapters/a\n\ngo 1.26.0\n\nrequire example.com/fake v0.0.0-00010101000000-000000000000\n\nreplace example.com/fake => ../..\n")
	os.MkdirAll(filepath.Join(root, "lib", "b"), 0o755)
	writeFile(t, root, "lib/b/go.mod", "module example.com/fake/lib/bee\n\ngo 1.26.0\n\nrequire (\n\texample.com/fake v0.1.0\n\texample.com/fake/examples v0.1.0\n)\n")
	writeFile(t, root, "examples/go.mod", "module example.com/fake/examples\n\ngo 1.26.0\n\nrequire (\n\texample.com/fake v0.1.0\n\texample.com/fake/adapters/a v0.1.0\n)\n\nreplace example.com/fake => example.com/other v1.0.0\n")
	writeFile(t, root, "go.work", "go 1.26.0\n\nuse (\n\t.\n\t./adapters/a\n\t./examples\n\t./gone\n)\n")
	repo, err := loadRepo(root)
	if err != nil {
		t.Fatal(err)
	}
	err = repo.Check()
	if err == nil {
		t.Fatal("Check passed")
	}
	for _, want := range []string{
		"adapters/a/go.mod: requires example.com/fake at v0.0.0-00010101000000-000000000000: want a release version",
		"adapters/a/go.mod: replace example.com/fake: a published module has no replace directive",
		"lib/b/go.mod: module example.com/fake/lib/bee, want example.com/fake/lib/b",
		"lib/b/go.mod: requires example.com/fake/examples, which is not published",
		`examples/go.mod: is unpublished (release tool list [examples integration tools/release]) but does not open with a "// Unpublished:" comment`,
		"examples/go.mod: replace example.com/fake => example.com/other: an unpublished module may only replace repository modules by their directories",
		"the modules require each other at more than one version",
		"go.work: module example.com/fake/cmd/tool (cmd/tool) is missing",
		"go.work: use gone: no module there",
		"examples/go.mod: requires example.com/fake/adapters/a but does not replace it by its directory",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check error lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("Check:\n%v", err)
	}
}

func TestCheckVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"v0.1.0": true, "v1.2.3": true, "v0.2.0-rc.1": true,
		"v2.0.0": false, "0.1.0": false, "v0.1": false, "v0.1.0+meta": false, "": false,
	} {
		if err := checkVersion(v); (err == nil) != ok {
			t.Errorf("checkVersion(%q) = %v", v, err)
		}
	}
}

func TestSetVersionKeepsTheRest(t *testing.T) {
	repo, err := loadRepo(fakeRepo(t, false))
	if err != nil {
		t.Fatal(err)
	}
	m := repo.Modules[2] // cmd/tool
	data, err := repo.setVersion(m, "v0.3.1")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.ReplaceAll(string(m.Data), "v0.1.0", "v0.3.1")
	if string(data) != want {
		t.Errorf("setVersion:\n%s\nwant\n%s", data, want)
	}
	if data, _ := repo.setVersion(m, "v0.1.0"); string(data) != string(m.Data) {
		t.Errorf("setVersion at the same version changed go.mod:\n%s", data)
	}
}

func TestSetWorkVersion(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "go.mod", "module example.com/fake\n\ngo 1.26.0\n")
	os.MkdirAll(filepath.Join(root, "lib", "b"), 0o755)
	writeFile(t, root, "lib/b/go.mod", "module example.com/fake/lib/b\n\ngo 1.26.0\n\nrequire example.com/fake v0.1.0\n")
	writeFile(t, root, "go.work", "go 1.26.0\n\nuse (\n\t.\n\t./lib/b\n)\n\nreplace example.com/fake/lib/b v0.1.0 => ./lib/b\n\nreplace example.com/other v1.0.0 => ./x\n")
	repo, err := loadRepo(root)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := setWorkVersion(repo, "v0.2.0")
	if err != nil || !changed {
		t.Fatalf("setWorkVersion: %v, %v", changed, err)
	}
	// lib/b requires the root module: replaced at v0.2.0. Nothing requires
	// lib/b: its stale line goes. Other replacements stay.
	got, _ := os.ReadFile(filepath.Join(root, "go.work"))
	if !strings.Contains(string(got), "example.com/fake v0.2.0 => ./") || strings.Contains(string(got), "lib/b v0.1.0") ||
		!strings.Contains(string(got), "example.com/other v1.0.0 => ./x") {
		t.Fatalf("go.work:\n%s", got)
	}
	if changed, err := setWorkVersion(repo, "v0.2.0"); err != nil || changed {
		t.Fatalf("second setWorkVersion: %v, %v", changed, err)
	}
}
