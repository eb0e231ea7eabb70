// Package version says which listprobe this is: version, revision and times
// come from the Go build information that the go command embeds in every
// binary, so a plain `go build` from a git checkout or a `go install …@vX`
// names itself without any flags.
//
// # Sources, by precedence
//
//   - Release builds may override any value with -ldflags -X, e.g.
//     -X github.com/listprobe/listprobe/internal/version.version=1.2.0
//     (also revision and buildTime). Use it where the build information is
//     missing, such as a container build without the .git directory.
//   - `go install github.com/listprobe/listprobe/cmd/listprobe@v1.2.0`
//     records the module version v1.2.0 (and a pseudo-version, with the
//     commit in it, for @main or @<commit>).
//   - `go build` in a git checkout records vcs.revision, vcs.time and
//     vcs.modified, and (Go 1.24 and later) a version derived from the
//     nearest tag, or a pseudo-version.
//
// Anything still unknown is "dev" for the version and "unknown" for the
// revision.
package version

import (
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
)

// Overrides for release builds, set with -ldflags -X; empty means "from the
// build information".
var (
	version   string
	revision  string
	buildTime string
)

// Info is what a binary knows about its own build.
type Info struct {
	// Version is the module version (v1.2.0, or a pseudo-version such as
	// v0.0.0-20261202004000-0ad8372abcde), or "dev".
	Version string
	// Revision is the full commit hash, or "unknown". A pseudo-version's
	// 12-digit commit prefix is used when nothing better is known.
	Revision string
	// GoVersion is the Go release that built the binary.
	GoVersion string
	// BuildTime is the commit's time (vcs.time, RFC 3339, so that builds
	// are reproducible) or the release build's override; "" when unknown.
	BuildTime string
	// Modified is true when the checkout had uncommitted changes.
	Modified bool
}

// Get returns this binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi, Info{Version: version, Revision: revision, BuildTime: buildTime})
}

// String is the one line `listprobe version` starts with.
func (i Info) String() string {
	s := "listprobe, version " + i.Version + " (revision: " + i.Revision
	if i.Modified {
		s += ", modified"
	}
	return s + ")"
}

// pseudoRevision matches the commit prefix at the end of a pseudo-version
// (vX.Y.Z-yyyymmddhhmmss-abcdefabcdef, or …-0.yyyymmddhhmmss-… after a tag),
// before any +incompatible or +dirty build suffix.
var pseudoRevision = regexp.MustCompile(`[-.][0-9]{14}-([0-9a-f]{12})(\+.*)?$`)

func fromBuildInfo(bi *debug.BuildInfo, override Info) Info {
	info := Info{Version: "dev", Revision: "unknown", GoVersion: runtime.Version()}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			info.Version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.time":
				info.BuildTime = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
		if info.Revision == "unknown" {
			if m := pseudoRevision.FindStringSubmatch(info.Version); m != nil {
				info.Revision = m[1]
			}
		}
		if strings.HasSuffix(info.Version, "+dirty") {
			info.Modified = true
		}
	}
	if override.Version != "" {
		info.Version = override.Version
	}
	if override.Revision != "" {
		info.Revision = override.Revision
	}
	if override.BuildTime != "" {
		info.BuildTime = override.BuildTime
	}
	return info
}
