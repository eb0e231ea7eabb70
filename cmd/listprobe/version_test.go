package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/listprobe/listprobe/internal/version"
	"github.com/listprobe/listprobe/probe"
)

func gitOutput(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("git", args...).Output()
	return strings.TrimSpace(string(out)), err
}

// A plain `go build` from a git checkout must name that checkout's commit,
// without any -ldflags: the revision comes from the Go build information.
func TestVersionFromCheckoutNamesItsCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds listprobe; not in -short")
	}
	head, err := gitOutput(t, "rev-parse", "HEAD")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but this is not a git checkout (git rev-parse HEAD: %v)", err)
		}
		t.Skip("not a git checkout")
	}
	gitDir, _ := gitOutput(t, "rev-parse", "--absolute-git-dir")
	commonDir, _ := gitOutput(t, "rev-parse", "--path-format=absolute", "--git-common-dir")
	if gitDir != commonDir {
		// cmd/go looks for a .git directory; a worktree has a .git file.
		t.Skip("a git worktree: the go command records no VCS information here; run in a clone")
	}
	status, err := gitOutput(t, "status", "--porcelain")
	if err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(t.TempDir(), "listprobe")
	// -buildvcs=true overrides a GOFLAGS=-buildvcs=false in the environment
	// and fails the build if the VCS information cannot be read.
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("listprobe version: %v", err)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	wantRevision := "(revision: " + head
	if status != "" {
		wantRevision += ", modified)"
	} else {
		wantRevision += ")"
	}
	if !strings.HasSuffix(first, wantRevision) {
		t.Errorf("listprobe version says %q, want it to end in %q", first, wantRevision)
	}
	if strings.Contains(first, "version dev ") {
		t.Errorf("listprobe version from a checkout says version dev: %q", first)
	}
	if !strings.Contains(string(out), "build time: ") {
		t.Errorf("listprobe version has no build time (vcs.time):\n%s", out)
	}
}

func TestVersionCommandPrintsBuildInfo(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"version"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("version exit %d: %s", code, stderr.String())
	}
	v := version.Get()
	for _, want := range []string{v.String() + "\n", "go version: " + v.GoVersion + "\n"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("version output lacks %q:\n%s", want, stdout.String())
		}
	}
}

// listprobe_build_info carries the values `listprobe version` prints.
func TestBuildInfoMetricMatchesVersion(t *testing.T) {
	families, err := probe.NewMetrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := version.Get()
	for _, f := range families {
		if f.GetName() != "listprobe_build_info" {
			continue
		}
		labels := map[string]string{}
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		want := map[string]string{"version": v.Version, "revision": v.Revision, "goversion": v.GoVersion}
		for k, w := range want {
			if labels[k] != w {
				t.Errorf("listprobe_build_info{%s=%q}, want %q", k, labels[k], w)
			}
		}
		return
	}
	t.Fatal("no listprobe_build_info")
}
