package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// tidy runs go mod tidy in every module with GOWORK=off, the way a
// published module is built: against the others as the rehearsal's proxy
// serves them at the version they require each other at. Between releases
// that version's hashes do not exist yet, so the kafkadial lines tidy puts
// into go.sum are taken out again (cut writes the real ones). Without it, a
// new module requiring an unreleased version cannot be tidied.
func tidy(ctx context.Context, w io.Writer, repo *Repo, verbose bool) error {
	v := repo.TreeVersion()
	if v == "" {
		v = "v0.0.0"
	}
	p, err := newProxyEnv(ctx, w, repo, v, verbose)
	if err != nil {
		return err
	}
	defer p.close()
	for _, m := range repo.Modules {
		s := begin(w, "go mod tidy in %s (GOWORK=off, kafkadial modules from the tree at %s)", m.Dir, v)
		dir := filepath.Join(repo.Root, filepath.FromSlash(m.Dir))
		_, err := p.run(ctx, dir, nil, "go", "mod", "tidy")
		if err == nil {
			err = stripSums(repo, filepath.Join(dir, "go.sum"))
		}
		if err := s.end(err); err != nil {
			return err
		}
	}
	return nil
}

// stripSums removes the go.sum lines of repository modules.
func stripSums(repo *Repo, file string) error {
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var b bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && repo.Module(f[0]) != nil {
			continue
		}
		fmt.Fprintln(&b, sc.Text())
	}
	switch {
	case b.Len() == len(data):
		return nil
	case b.Len() == 0:
		return os.Remove(file)
	}
	return os.WriteFile(file, b.Bytes(), 0o644)
}
