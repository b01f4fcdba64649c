package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// versionLine says which kafkadial this is: the module version it was built
// from ("v0.1.0" after go install ...@v0.1.0, "(devel)" when built inside
// the repository), then the Go version and platform, as "go version" does.
func versionLine(bi *debug.BuildInfo, ok bool) string {
	version, goVersion := "(unknown)", runtime.Version()
	if ok && bi != nil {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
	}
	return fmt.Sprintf("kafkadial %s %s %s/%s", version, goVersion, runtime.GOOS, runtime.GOARCH)
}

func (c *cli) version(args []string) int {
	if len(args) > 0 {
		c.errorf("version takes no arguments")
		return exitUsage
	}
	fmt.Fprintln(c.stdout, versionLine(debug.ReadBuildInfo()))
	return exitOK
}
