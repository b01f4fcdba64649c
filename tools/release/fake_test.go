package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRepo writes a small multi-module repository like this one, module
// path example.com/fake: a root module, lib/b and adapters/a requiring it,
// cmd/tool requiring all three (so that sorting by directory alone would
// tag cmd/tool before lib/b), and an unpublished examples module.
func fakeRepo(t *testing.T, withGit bool) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/fake\n\ngo 1.26.0\n",
		"fake.go": `// Package fake is the root package of a fake repository.
//
//	fake.Hello()
package fake

// Hello says hello.
func Hello() string { return "hello" }
`,
		"go.work": "go 1.26.0\n\nuse (\n\t.\n\t./adapters/a\n\t./cmd/tool\n\t./examples\n\t./lib/b\n)\n\n" +
			"replace (\n\texample.com/fake v0.1.0 => ./\n\texample.com/fake/adapters/a v0.1.0 => ./adapters/a\n\texample.com/fake/lib/b v0.1.0 => ./lib/b\n)\n",
		"adapters/a/go.mod": "module example.com/fake/adapters/a\n\ngo 1.26.0\n\nrequire example.com/fake v0.1.0\n",
		"adapters/a/a.go": `// Package a adapts fake.
//
//	a.Hello()
package a

import "example.com/fake"

// Hello says hello through fake.
func Hello() string { return fake.Hello() + " from a" }
`,
		"lib/b/go.mod": "module example.com/fake/lib/b\n\ngo 1.26.0\n\nrequire example.com/fake v0.1.0\n",
		"lib/b/b.go": `// Package b is another library.
//
//	b.Hello()
package b

import "example.com/fake"

// Hello says hello through fake.
func Hello() string { return fake.Hello() + " from b" }
`,
		"cmd/tool/go.mod": "module example.com/fake/cmd/tool\n\ngo 1.26.0\n\nrequire (\n\texample.com/fake v0.1.0\n\texample.com/fake/adapters/a v0.1.0\n\texample.com/fake/lib/b v0.1.0\n)\n",
		"cmd/tool/main.go": `// Command tool prints its version.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"example.com/fake/adapters/a"
	"example.com/fake/lib/b"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		bi, _ := debug.ReadBuildInfo()
		fmt.Printf("tool %s %s %s/%s\n", bi.Main.Version, bi.GoVersion, runtime.GOOS, runtime.GOARCH)
		return
	}
	fmt.Println(a.Hello(), b.Hello())
}
`,
		"examples/go.mod":         "// Unpublished: examples.\nmodule example.com/fake/examples\n\ngo 1.26.0\n\nrequire example.com/fake v0.1.0\n\nreplace example.com/fake => ../\n",
		"examples/main.go":        "// Command examples shows fake.\npackage main\n\nimport \"example.com/fake\"\n\nfunc main() { println(fake.Hello()) }\n",
		"testdata/ignored/go.mod": "module example.com/ignored\n",
	}
	for name, text := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if withGit {
		for _, args := range [][]string{
			{"init", "-q", "-b", "main"},
			{"config", "user.name", "test"},
			{"config", "user.email", "test@example.invalid"},
			{"add", "."},
			{"commit", "-q", "-m", "fake repository"},
		} {
			gitT(t, root, args...)
		}
	}
	return root
}

func gitT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, root, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(name)), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
