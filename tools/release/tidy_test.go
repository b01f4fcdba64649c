package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tidy puts back a requirement between modules that was dropped, at the
// version the others name, although no such version is published; and it
// leaves no go.sum line for a kafkadial module.
func TestTidy(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs go mod tidy")
	}
	t.Setenv("GOPROXY", "off")
	root := fakeRepo(t, true)
	writeFile(t, root, "cmd/tool/go.mod", "module example.com/fake/cmd/tool\n\ngo 1.26.0\n\nrequire example.com/fake/adapters/a v0.1.0\n")
	repo, err := loadRepo(root)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if err := tidy(context.Background(), &log, repo, false); err != nil {
		t.Fatalf("tidy: %v\n%s", err, log.String())
	}
	mod, _ := os.ReadFile(filepath.Join(root, "cmd/tool/go.mod"))
	for _, want := range []string{"example.com/fake v0.1.0", "example.com/fake/adapters/a v0.1.0", "example.com/fake/lib/b v0.1.0"} {
		if !strings.Contains(string(mod), want) {
			t.Errorf("cmd/tool/go.mod lacks %q:\n%s", want, mod)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "cmd/tool/go.sum")); !os.IsNotExist(err) {
		t.Errorf("cmd/tool/go.sum: want none (only kafkadial lines, taken out), got %v", err)
	}
	if repo, err = loadRepo(root); err != nil {
		t.Fatal(err)
	}
	if err := repo.Check(); err != nil {
		t.Errorf("Check after tidy: %v", err)
	}
}
