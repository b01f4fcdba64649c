package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A dry run releases a fake repository in a clone: one commit with the
// requirements at the new version and go.sum lines for them, the tags in
// tag order on it, the command built for each platform from the tagged
// modules with its checksum; the repository itself is left as it was.
func TestCutDryRun(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and installs modules")
	}
	t.Setenv("GOPROXY", "off") // nothing but the rehearsal's own proxy and the module cache
	root := fakeRepo(t, true)
	head := gitT(t, root, "rev-parse", "HEAD")
	host := platform{runtime.GOOS, runtime.GOARCH}
	var log bytes.Buffer
	res, err := cut(context.Background(), &log, root, "v0.2.0", cutOptions{
		DryRun: true, Gate: "none", CloneDir: filepath.Join(t.TempDir(), "clone"),
		Platforms: []platform{host, {"windows", "arm64"}},
	})
	if err != nil {
		t.Fatalf("cut: %v\n%s", err, log.String())
	}

	if got := gitT(t, root, "rev-parse", "HEAD"); got != head {
		t.Errorf("the repository's HEAD moved: %s", got)
	}
	if tags := gitT(t, root, "tag"); tags != "" {
		t.Errorf("the repository got tags: %s", tags)
	}
	if st := gitT(t, root, "status", "--porcelain"); st != "" {
		t.Errorf("the repository changed:\n%s", st)
	}

	clone := res.Clone
	if got, want := strings.Join(res.Tags, " "), "v0.2.0 adapters/a/v0.2.0 lib/b/v0.2.0 cmd/tool/v0.2.0"; got != want {
		t.Errorf("tags made in the order %q, want %q", got, want)
	}
	if got := gitT(t, clone, "tag", "--points-at", res.Commit); len(strings.Fields(got)) != 4 {
		t.Errorf("tags on the release commit: %q", got)
	}
	if parent := gitT(t, clone, "rev-parse", res.Commit+"^"); parent != head {
		t.Errorf("the release commit's parent is %s, want %s", parent, head)
	}
	changed := gitT(t, clone, "diff", "--name-only", head, res.Commit)
	if want := "adapters/a/go.mod\nadapters/a/go.sum\ncmd/tool/go.mod\ncmd/tool/go.sum\nexamples/go.mod\ngo.work\nlib/b/go.mod\nlib/b/go.sum"; changed != want {
		t.Errorf("the release commit changes\n%s\nwant\n%s", changed, want)
	}
	work, _ := os.ReadFile(filepath.Join(clone, "go.work"))
	if strings.Contains(string(work), "v0.1.0") || !strings.Contains(string(work), "example.com/fake/lib/b v0.2.0 => ./lib/b") {
		t.Errorf("go.work:\n%s", work)
	}
	toolMod, _ := os.ReadFile(filepath.Join(clone, "cmd/tool/go.mod"))
	if strings.Contains(string(toolMod), "v0.1.0") || strings.Count(string(toolMod), "v0.2.0") != 3 {
		t.Errorf("cmd/tool/go.mod:\n%s", toolMod)
	}
	toolSum, _ := os.ReadFile(filepath.Join(clone, "cmd/tool/go.sum"))
	for _, want := range []string{"example.com/fake v0.2.0 h1:", "example.com/fake v0.2.0/go.mod h1:",
		"example.com/fake/adapters/a v0.2.0 h1:", "example.com/fake/lib/b v0.2.0/go.mod h1:"} {
		if !strings.Contains(string(toolSum), want) {
			t.Errorf("cmd/tool/go.sum lacks %q:\n%s", want, toolSum)
		}
	}
	exMod, _ := os.ReadFile(filepath.Join(clone, "examples/go.mod"))
	if !strings.Contains(string(exMod), "example.com/fake v0.2.0") || !strings.Contains(string(exMod), "replace example.com/fake => ../") {
		t.Errorf("examples/go.mod:\n%s", exMod)
	}

	// Binaries and checksums.
	wantBins := []string{"tool_v0.2.0_" + host.OS + "_" + host.Arch, "tool_v0.2.0_windows_arm64.exe", "SHA256SUMS"}
	if strings.Join(res.Binaries, " ") != strings.Join(wantBins, " ") {
		t.Errorf("binaries %q, want %q", res.Binaries, wantBins)
	}
	sums, err := os.ReadFile(filepath.Join(res.Out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(sums)), "\n")
	if len(lines) != 2 {
		t.Fatalf("SHA256SUMS:\n%s", sums)
	}
	for _, line := range lines {
		sum, name, _ := strings.Cut(line, "  ")
		data, err := os.ReadFile(filepath.Join(res.Out, name))
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(data); hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: checksum does not match", name)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(res.Out, wantBins[1])); !bytes.HasPrefix(data, []byte("MZ")) {
		t.Errorf("%s is not a Windows executable", wantBins[1])
	}
	out, err := exec.Command(filepath.Join(res.Out, wantBins[0]), "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "tool v0.2.0 " + runtime.Version() + " " + host.OS + "/" + host.Arch + "\n"; string(out) != want {
		t.Errorf("tool version = %q, want %q", out, want)
	}
	for _, want := range []string{"-- ok lib/b/v0.2.0 builds alone", "-- ok go install example.com/fake/cmd/tool@v0.2.0",
		"-- ok the module cache holds exactly the published zips"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestCutRefuses(t *testing.T) {
	root := fakeRepo(t, true)
	ctx := context.Background()
	if _, err := cut(ctx, &bytes.Buffer{}, root, "v2.0.0", cutOptions{Gate: "full"}); err == nil || !strings.Contains(err.Error(), "major version v2") {
		t.Errorf("v2.0.0: %v", err)
	}
	writeFile(t, root, "fake.go", "package fake\n")
	if _, err := cut(ctx, &bytes.Buffer{}, root, "v0.2.0", cutOptions{Gate: "full"}); err == nil || !strings.Contains(err.Error(), "the working tree has changes") {
		t.Errorf("dirty tree: %v", err)
	}
	gitT(t, root, "commit", "-qam", "change")
	gitT(t, root, "tag", "lib/b/v0.2.0")
	if _, err := cut(ctx, &bytes.Buffer{}, root, "v0.2.0", cutOptions{Gate: "full"}); err == nil || !strings.Contains(err.Error(), "tag lib/b/v0.2.0 exists already") {
		t.Errorf("existing tag: %v", err)
	}
	if _, err := cut(ctx, &bytes.Buffer{}, root, "v0.3.0", cutOptions{Gate: "none"}); err == nil || !strings.Contains(err.Error(), `CHANGELOG.md has no "## v0.3.0 — DATE" heading`) {
		t.Errorf("no changelog: %v", err)
	}
	writeFile(t, root, "CHANGELOG.md", "# Changelog\n\n## v0.3.0 — unreleased\n")
	gitT(t, root, "add", "CHANGELOG.md")
	gitT(t, root, "commit", "-qm", "changelog")
	if _, err := cut(ctx, &bytes.Buffer{}, root, "v0.3.0", cutOptions{Gate: "none"}); err == nil || !strings.Contains(err.Error(), "put the release date") {
		t.Errorf("unreleased changelog: %v", err)
	}
	writeFile(t, root, "CHANGELOG.md", "# Changelog\n\n## v0.3.0 — 2026-12-01\n")
	gitT(t, root, "commit", "-qam", "changelog")
	if _, err := cut(ctx, &bytes.Buffer{}, root, "v0.3.0", cutOptions{Gate: "none"}); err == nil || !strings.Contains(err.Error(), "-gate=none is for dry runs only") {
		t.Errorf("-gate=none: %v", err)
	}
}
