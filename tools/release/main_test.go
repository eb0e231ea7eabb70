package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The release of a tag, made as docs/releasing.md says in a clone of this
// commit (its CHANGELOG section added, then its sh blocks run as printed:
// tag v0.1.0, push it to origin, here a bare repository of the test's, and
// build), writes the binaries, the package and their checksums, each naming
// the version; an untagged commit is refused.
func TestReleaseOfATagInAClone(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	clone := filepath.Join(t.TempDir(), "listprobe")
	run := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("../..", "git", "clone", "-q", "--no-hardlinks", ".", clone)
	refused := exec.Command("go", "run", "./release")
	refused.Dir = filepath.Join(clone, "tools")
	if out, err := refused.CombinedOutput(); err == nil || !strings.Contains(string(out), "HEAD is not tagged") {
		t.Errorf("an untagged commit: %v\n%s", err, out)
	}
	changelog, err := os.ReadFile(filepath.Join(clone, "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	// Step 2 of docs/releasing.md: the Unreleased section becomes the tag's.
	text := strings.Replace(string(changelog), "## Unreleased\n", "## Unreleased\n\n## v0.1.0 (2026-12-06)\n", 1)
	if text == string(changelog) {
		t.Fatal("CHANGELOG.md has no \"## Unreleased\" section")
	}
	os.WriteFile(filepath.Join(clone, "CHANGELOG.md"), []byte(text), 0o644)
	run(clone, "git", "commit", "-q", "-am", "Release v0.1.0")
	origin := filepath.Join(t.TempDir(), "origin.git")
	run(clone, "git", "init", "-q", "--bare", origin)
	run(clone, "git", "remote", "set-url", "origin", origin)
	var out string
	for _, block := range releasingBlocks(t) {
		out = run(clone, "bash", "-euo", "pipefail", "-c", block)
	}
	if tags := run(origin, "git", "tag"); strings.TrimSpace(tags) != "v0.1.0" {
		t.Errorf("origin has tags %q, want v0.1.0", tags)
	}
	want := []string{"dist/listprobe-v0.1.0-linux-amd64", "dist/listprobe-v0.1.0-linux-arm64", "dist/listprobe_0.1.0_amd64.deb", "dist/SHA256SUMS"}
	if got := strings.Fields(out); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("release printed %q, want %q", got, want)
	}
	sums := run(filepath.Join(clone, "dist"), "sha256sum", "-c", "SHA256SUMS")
	if strings.Count(sums, ": OK") != 3 {
		t.Errorf("sha256sum -c:\n%s", sums)
	}
	if v := run(clone, "./dist/listprobe-v0.1.0-linux-amd64", "version"); !strings.HasPrefix(v, "listprobe, version v0.1.0 ") {
		t.Errorf("the binary says %q", v)
	}
}

// releasingBlocks returns the sh blocks of docs/releasing.md, in order: the
// tag and push, then the build.
func releasingBlocks(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../docs/releasing.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	in, block := false, ""
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && trimmed == "```sh":
			in, block = true, ""
		case in && trimmed == "```":
			in = false
			blocks = append(blocks, block)
		case in:
			block += trimmed + "\n"
		}
	}
	if len(blocks) != 2 || !strings.Contains(blocks[0], "git tag -a v0.1.0") || !strings.Contains(blocks[1], "./release") {
		t.Fatalf("docs/releasing.md's sh blocks are not the tag and the build: %q", blocks)
	}
	return blocks
}
