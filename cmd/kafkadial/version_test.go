package main

import (
	"bytes"
	"context"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestVersionLine(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/kafkadial/kafkadial/cmd/kafkadial", Version: "v0.1.0"}}, true,
			"kafkadial v0.1.0 go1.26.8 " + platform},
		{&debug.BuildInfo{GoVersion: "go1.27.1", Main: debug.Module{Version: "(devel)"}}, true,
			"kafkadial (devel) go1.27.1 " + platform},
		{nil, false, "kafkadial (unknown) " + runtime.Version() + " " + platform},
	} {
		if got := versionLine(tc.bi, tc.ok); got != tc.want {
			t.Errorf("versionLine = %q, want %q", got, tc.want)
		}
	}
}

// Built inside the repository (as tests are), the module version is
// "(devel)"; the release rehearsal checks the go install'ed one.
func TestVersionCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	want := "kafkadial (devel) " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if stdout.String() != want || stderr.Len() != 0 {
		t.Errorf("stdout %q, stderr %q; want stdout %q", stdout.String(), stderr.String(), want)
	}
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"version", "extra"}, &stdout, &stderr); code != exitUsage || stdout.Len() != 0 {
		t.Errorf("version extra: exit %d, stdout %q", code, stdout.String())
	}
}
