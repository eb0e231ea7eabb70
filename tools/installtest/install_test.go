// Package installtest checks the documented install route of a release:
// `go install github.com/listprobe/listprobe/cmd/listprobe@<tag>`, run as
// the README prints it, against a module proxy made from the checkout's
// commit (a directory, GOPROXY=file://), with a module cache of its own.
// It lives in the tools module for golang.org/x/mod's module zips.
package installtest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

const (
	modulePath = "github.com/listprobe/listprobe"
	// version is the tag the test releases: nothing is tagged, it exists
	// only in the test's module proxy.
	version = "v0.99.0"
)

// readmeInstall returns the README's go install command of a release.
func readmeInstall(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "go install "+modulePath+"/cmd/listprobe@") {
			return line
		}
	}
	t.Fatalf("README.md has no line starting go install %s/cmd/listprobe@", modulePath)
	return ""
}

func git(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("no git checkout here (git %v: %v): the module zip is made from a commit", args, err)
	}
	return strings.TrimSpace(string(out))
}

// The README's go install of a tag, from a clean module cache, gives a
// listprobe that names that version: the module zip of the commit (the
// tools module left out, as the go command leaves out nested modules) is
// published as the tag in a proxy directory; listprobe's dependencies come
// from the module cache's download directory used as a second proxy, so
// no network is needed.
func TestGoInstallOfATagFromACleanModuleCache(t *testing.T) {
	line := readmeInstall(t)
	if !strings.HasSuffix(line, "@<tag>") {
		t.Fatalf("README: %q: want the version as @<tag>", line)
	}
	if os.Getenv("CI") != "true" && strings.TrimSpace(git(t, "status", "--porcelain", "--untracked-files=no")) != "" {
		t.Log("uncommitted changes are not in the module zip: it is made from HEAD")
	}
	rev := git(t, "rev-parse", "HEAD")
	proxy, cache, bin := t.TempDir(), t.TempDir(), t.TempDir()
	dir := filepath.Join(proxy, modulePath, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	zipFile, err := os.Create(filepath.Join(dir, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	tree := t.TempDir()
	archive := exec.Command("sh", "-c", `git archive --format=tar "$0" | tar -x -C "$1"`, rev, tree)
	archive.Dir = "../.."
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", rev, err, out)
	}
	err = modzip.CreateFromDir(zipFile, module.Version{Path: modulePath, Version: version}, tree)
	zipFile.Close()
	if err != nil {
		t.Fatalf("module zip of %s: %v", rev, err)
	}
	gomod := git(t, "show", rev+":go.mod")
	info, _ := json.Marshal(map[string]any{"Version": version, "Time": time.Now().UTC().Format(time.RFC3339)})
	for name, data := range map[string]string{"list": version + "\n", version + ".info": string(info), version + ".mod": gomod + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	downloads := filepath.Join(goEnv(t, "GOMODCACHE"), "cache", "download")

	args := strings.Fields(strings.Replace(line, "<tag>", version, 1))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = t.TempDir() // outside any module
	cmd.Env = append(os.Environ(),
		"GOPROXY=file://"+proxy+",file://"+downloads,
		"GOMODCACHE="+cache, "GOBIN="+bin, "GOFLAGS=-modcacherw",
		// The dependencies are checked against listprobe's go.sum; the
		// test's own tag is in no checksum database.
		"GOSUMDB=off", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	out, err := exec.Command(filepath.Join(bin, "listprobe"), "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "listprobe, version "+version+" ") {
		t.Errorf("the installed listprobe says %q (%v), want version %s", out, err, version)
	}
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
