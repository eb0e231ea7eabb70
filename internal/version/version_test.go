package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	gitBuild := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/listprobe/listprobe", Version: "v0.0.0-20261202004000-0ad8372abcde+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0ad8372abcdef0123456789abcdef0123456789a"},
			{Key: "vcs.time", Value: "2026-12-02T00:40:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	for _, tc := range []struct {
		name     string
		bi       *debug.BuildInfo
		override Info
		want     Info
	}{
		{
			name: "no build information",
			want: Info{Version: "dev", Revision: "unknown"},
		},
		{
			name: "go build with -buildvcs=false",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/listprobe/listprobe", Version: "(devel)"}},
			want: Info{Version: "dev", Revision: "unknown", GoVersion: "go1.26.8"},
		},
		{
			name: "go build in a modified git checkout",
			bi:   gitBuild,
			want: Info{Version: "v0.0.0-20261202004000-0ad8372abcde+dirty", Revision: "0ad8372abcdef0123456789abcdef0123456789a", GoVersion: "go1.26.8", BuildTime: "2026-12-02T00:40:00Z", Modified: true},
		},
		{
			name: "go install at a tag",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/listprobe/listprobe", Version: "v1.2.0"}},
			want: Info{Version: "v1.2.0", Revision: "unknown", GoVersion: "go1.26.8"},
		},
		{
			name: "go install at a commit: the pseudo-version names it",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/listprobe/listprobe", Version: "v1.2.1-0.20261202004000-0ad8372abcde"}},
			want: Info{Version: "v1.2.1-0.20261202004000-0ad8372abcde", Revision: "0ad8372abcde", GoVersion: "go1.26.8"},
		},
		{
			name:     "release build overrides",
			bi:       gitBuild,
			override: Info{Version: "1.3.0", Revision: "feedface", BuildTime: "2026-12-24T00:00:00Z"},
			want:     Info{Version: "1.3.0", Revision: "feedface", GoVersion: "go1.26.8", BuildTime: "2026-12-24T00:00:00Z", Modified: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fromBuildInfo(tc.bi, tc.override)
			if tc.bi == nil {
				tc.want.GoVersion = got.GoVersion // runtime.Version()
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestStringSaysModified(t *testing.T) {
	if got, want := (Info{Version: "v1.2.0", Revision: "abc", Modified: true}).String(), "listprobe, version v1.2.0 (revision: abc, modified)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := (Info{Version: "v1.2.0", Revision: "abc"}).String(), "listprobe, version v1.2.0 (revision: abc)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
