// Command debpackage builds listprobe's Debian package:
//
//	go -C tools run ./debpackage
//
// It builds a static listprobe for linux/amd64 from the repository, takes
// the package version from the binary's own Go build information (the same
// version `listprobe version` prints), and packs it with nfpm as configured in
// deploy/package/nfpm.yaml: the binary, the systemd unit, the listprobe
// system user and /etc/listprobe/listprobe.yml as a conffile. It prints the
// path of dist/listprobe_<version>_amd64.deb.
//
// A build from a git clone names its commit (a pseudo-version such as
// 0.0.0~20261202005919.7c93c546bd79); from a tag, the tag's version. Where
// no version can be read (a tarball, a git worktree), or for a release,
// --version sets it, and it is passed to the binary with -ldflags -X too.
package main

import (
	"bufio"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
)

const (
	modulePath   = "github.com/listprobe/listprobe"
	versionVar   = modulePath + "/internal/version.version"
	nfpmConfig   = "deploy/package/nfpm.yaml"
	packageArch  = "amd64"
	binaryInDist = "listprobe-linux-amd64"
)

func main() {
	version := flag.String("version", "", "Package and binary version for a release build, e.g. 1.2.0 (default: from the Go build information)")
	out := flag.String("out", "dist", "Directory for the package (relative: to the repository root)")
	flag.Parse()
	path, err := build(*version, *out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "debpackage: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

// build makes the package and returns its path.
func build(versionOverride, outDir string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	if err := os.Chdir(root); err != nil {
		return "", err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(outDir, binaryInDist)
	if err := buildBinary(versionOverride, bin); err != nil {
		return "", err
	}

	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("read the build information of %s: %w", bin, err)
	}
	goVersion := versionOverride
	if goVersion == "" {
		goVersion = bi.Main.Version
	}
	debVersion, err := DebianVersion(goVersion)
	if err != nil {
		return "", fmt.Errorf("%w (build from a git clone, not a worktree or a tarball, or pass --version)", err)
	}

	config, err := nfpm.ParseFileWithEnvMapping(nfpmConfig, func(name string) string {
		switch name {
		case "LISTPROBE_VERSION":
			return debVersion
		case "LISTPROBE_BINARY":
			return bin
		}
		return ""
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", nfpmConfig, err)
	}
	info, err := config.Get("deb")
	if err != nil {
		return "", fmt.Errorf("%s: %w", nfpmConfig, err)
	}
	// Reproducible: every file gets the commit's time, not the build's.
	for _, s := range bi.Settings {
		if s.Key == "vcs.time" {
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				info.MTime = t
			}
		}
	}
	path := filepath.Join(outDir, deb.Default.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := deb.Default.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("nfpm: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, path)
	}
	return path, nil
}

// buildBinary builds listprobe for the package into bin.
func buildBinary(versionOverride, bin string) error {
	// Static, so that one package runs on every Debian and Ubuntu release;
	// -buildvcs=true overrides a GOFLAGS=-buildvcs=false, so a git clone's
	// commit always gets into the binary.
	args := []string{"build", "-trimpath", "-buildvcs=true"}
	ldflags := "-s -w"
	if versionOverride != "" {
		ldflags += " -X " + versionVar + "=" + versionOverride
	}
	args = append(args, "-ldflags="+ldflags, "-o", bin, "./cmd/listprobe")
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+packageArch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// repoRoot finds the listprobe repository above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			s := bufio.NewScanner(f)
			s.Scan()
			f.Close()
			if strings.TrimSpace(s.Text()) == "module "+modulePath {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the listprobe repository (no go.mod of " + modulePath + " above the working directory)")
		}
		dir = parent
	}
}

var (
	debianVersionChars = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)
)

// DebianVersion turns a Go module version into a Debian one that sorts the
// same way: v1.2.0 is 1.2.0; a pre-release or pseudo-version sorts before
// its release, so its "-" becomes "~" (Debian's "sorts before anything")
// and its other "-" become "." (a "-" would start a Debian revision):
// v1.2.1-0.20261202005919-7c93c546bd79 is 1.2.1~0.20261202005919.7c93c546bd79.
// A +dirty build keeps its suffix.
func DebianVersion(goVersion string) (string, error) {
	v := strings.TrimPrefix(goVersion, "v")
	if v == "" || v == "(devel)" || v == "dev" {
		return "", fmt.Errorf("listprobe has no version (%q)", goVersion)
	}
	base, meta, _ := strings.Cut(v, "+")
	release, pre, hasPre := strings.Cut(base, "-")
	d := release
	if hasPre {
		d += "~" + strings.ReplaceAll(pre, "-", ".")
	}
	if meta != "" {
		d += "+" + meta
	}
	if !debianVersionChars.MatchString(d) {
		return "", fmt.Errorf("version %q does not make a Debian version (%q)", goVersion, d)
	}
	return d, nil
}
