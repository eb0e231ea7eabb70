package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/listprobe/listprobe/internal/version"
)

// printVersion is `listprobe version`: the same values as the
// listprobe_build_info metric (probe takes them from internal/version too),
// from the Go build information.
func printVersion(stdout io.Writer) int {
	v := version.Get()
	fmt.Fprintln(stdout, v.String())
	if v.BuildTime != "" {
		fmt.Fprintf(stdout, "  build time: %s\n", v.BuildTime)
	}
	fmt.Fprintf(stdout, "  go version: %s\n  platform: %s/%s\n", v.GoVersion, runtime.GOOS, runtime.GOARCH)
	return exitOK
}
