// Command release builds what a listprobe release publishes, from a clean
// checkout of its tag (docs/releasing.md):
//
//	go -C tools run ./release
//
// It refuses unless HEAD is exactly a semver tag vMAJOR.MINOR.PATCH, the
// work tree is clean and CHANGELOG.md has a section for the tag. It writes
// into dist/: static binaries listprobe-<tag>-linux-amd64 and -arm64, the
// Debian package (by debpackage) and SHA256SUMS of them all, and checks
// that the amd64 binary names the tag as its version.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

var semverTag = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$`)

func main() {
	files, err := release()
	if err != nil {
		fmt.Fprintf(os.Stderr, "release: %v\n", err)
		os.Exit(1)
	}
	for _, f := range files {
		fmt.Println(f)
	}
}

// release builds the release's files and returns their paths, relative to
// the repository root.
func release() ([]string, error) {
	root, err := output("git", "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, err
	}
	if err := os.Chdir(root); err != nil {
		return nil, err
	}
	tag, err := output("git", "describe", "--exact-match", "--tags", "HEAD")
	if err != nil || !semverTag.MatchString(tag) {
		return nil, fmt.Errorf("HEAD is not tagged vMAJOR.MINOR.PATCH (git describe: %q, %v): tag the release first (docs/releasing.md)", tag, err)
	}
	if dirty, err := output("git", "status", "--porcelain"); err != nil || dirty != "" {
		return nil, fmt.Errorf("the work tree is not clean (%v):\n%s", err, dirty)
	}
	changelog, err := os.ReadFile("CHANGELOG.md")
	if err != nil || !regexp.MustCompile(`(?m)^## `+regexp.QuoteMeta(tag)+`\b`).Match(changelog) {
		return nil, fmt.Errorf("CHANGELOG.md has no section \"## %s\" (%v)", tag, err)
	}
	var files []string
	for _, arch := range []string{"amd64", "arm64"} {
		bin := filepath.Join("dist", "listprobe-"+tag+"-linux-"+arch)
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=true", "-ldflags=-s -w", "-o", bin, "./cmd/listprobe")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go build for linux/%s: %w", arch, err)
		}
		files = append(files, bin)
	}
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		v, err := output(filepath.Join(".", files[0]), "version")
		if err != nil || !strings.HasPrefix(v, "listprobe, version "+tag+" ") {
			return nil, fmt.Errorf("%s says %q (%v), not version %s", files[0], v, err, tag)
		}
	}
	deb, err := output("go", "-C", "tools", "run", "./debpackage")
	if err != nil {
		return nil, fmt.Errorf("debpackage: %w", err)
	}
	if rel, err := filepath.Rel(root, deb); err == nil {
		deb = rel
	}
	files = append(files, deb)
	sums, err := checksums(files)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join("dist", "SHA256SUMS"), []byte(sums), 0o644); err != nil {
		return nil, err
	}
	return append(files, filepath.Join("dist", "SHA256SUMS")), nil
}

// checksums is a SHA256SUMS file of files, named by their base names (as
// sha256sum -c expects them beside it).
func checksums(files []string) (string, error) {
	var b strings.Builder
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return "", err
		}
		h := sha256.New()
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), filepath.Base(f))
	}
	return b.String(), nil
}

// output runs a command and returns its standard output, trimmed; its
// standard error goes to ours.
func output(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}
