package main

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/modfile"
)

// setWorkVersion rewrites go.work's version-specific replacements of the
// repository's own modules (replace M vOLD => ./dir) to version v. Go needs
// one for a workspace module nested under a directory of another module's
// packages (resolver/docker below resolver/) when others require it at a
// version the proxy does not hold; a replacement at all versions is
// refused for workspace modules. It reports whether go.work changed.
func setWorkVersion(repo *Repo, v string) (bool, error) {
	p := filepath.Join(repo.Root, "go.work")
	data, err := os.ReadFile(p)
	if err != nil {
		return false, err
	}
	wf, err := modfile.ParseWork(p, data, nil)
	if err != nil {
		return false, fmt.Errorf("go.work: %w", err)
	}
	var stale []modfile.Replace
	for _, r := range wf.Replace {
		if repo.Module(r.Old.Path) != nil && r.Old.Version != "" && r.Old.Version != v {
			stale = append(stale, *r)
		}
	}
	if len(stale) == 0 {
		return false, nil
	}
	for _, r := range stale {
		if err := wf.DropReplace(r.Old.Path, r.Old.Version); err != nil {
			return false, err
		}
		if err := wf.AddReplace(r.Old.Path, v, r.New.Path, r.New.Version); err != nil {
			return false, err
		}
	}
	wf.Cleanup()
	return true, os.WriteFile(p, modfile.Format(wf.Syntax), 0o644)
}
