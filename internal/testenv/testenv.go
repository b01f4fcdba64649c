// Package testenv lets suites that need root or system programs skip with a
// message outside CI and fail in CI (CI=true), where .ci/run installs them.
package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// InCI reports whether the tests run under .ci/run.
func InCI() bool { return os.Getenv("CI") == "true" }

// Need skips (outside CI) or fails (in CI) the test unless every program is
// on PATH (or at the absolute path given).
func Need(t testing.TB, programs ...string) {
	t.Helper()
	var missing []string
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		unavailable(t, "needs "+strings.Join(missing, ", ")+" (Debian packages; .ci/run installs them)")
	}
}

// NeedRoot skips (outside CI) or fails (in CI) the test unless it runs as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "needs root (network namespaces)")
	}
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s, and CI=true: .ci/run should have provided it", why)
	}
	t.Skip(why)
}
