package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/sandbox"
)

// The operator's documentation: the README and docs/. Every command in a
// fenced sh or console block of these is run, as printed, by a test or by
// .ci/run (docs/development.md says so).
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no docs/*.md: %v", err)
	}
	return append([]string{"../../README.md"}, files...)
}

// docBlock is one fenced block of a doc: its language and lines.
type docBlock struct {
	file  string // relative to the repository root
	line  int    // of the opening fence
	lang  string
	lines []string
}

// docBlocks returns the fenced blocks of a markdown file, also those
// indented in a list item.
func docBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docBlock
	var cur *docBlock
	indent := ""
	for i, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			indent = line[:len(line)-len(trimmed)]
			cur = &docBlock{file: strings.TrimPrefix(path, "../../"), line: i + 1, lang: strings.TrimPrefix(trimmed, "```")}
		case cur != nil && trimmed == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, strings.TrimPrefix(line, indent))
		}
	}
	return blocks
}

// commands returns the commands of a block: each line of a sh block (a
// comment and an empty line are none), the $ lines of a console block.
func (b docBlock) commands() []string {
	var out []string
	for _, l := range b.lines {
		switch b.lang {
		case "sh", "shell", "bash":
			if s := strings.TrimSpace(l); s != "" && !strings.HasPrefix(s, "#") {
				out = append(out, s)
			}
		case "console":
			if c, ok := strings.CutPrefix(l, "$ "); ok {
				out = append(out, c)
			}
		}
	}
	return out
}

// runner says what runs a command of the docs, as printed.
type runner struct {
	// ci: .ci/run has the command as printed (sudo left out: CI runs as
	// root).
	ci bool
	// by: "path:TestName" or "path" of a script: that test or script reads
	// the doc's block and runs it as printed; the file must name the doc.
	by string
	// self: this test runs it (TestDocConsoleExamples, TestDocCommandsRunHere).
	self bool
	// not: why nothing here runs it; kept to what needs a person, a running
	// systemd or a container engine.
	not string
}

const (
	k8sRecipe     = "tools/deploytest/recipe_test.go:TestKubernetesRecipeAppliesWhatItBuilt"
	composeRecipe = "tools/deploytest/recipe_test.go:TestComposeRecipeWritesTheSecretsComposeMounts"
	composeDemo   = "tools/deploytest/recipe_test.go:TestComposeDemoRecipe"
	debianSteps   = "deploy/package/check.sh"
	release       = "tools/release/main_test.go:TestReleaseOfATagInAClone"
	installRoute  = "tools/installtest/install_test.go:TestGoInstallOfATagFromACleanModuleCache"
)

// docCommands is what runs each command of the docs. A command added to
// the docs needs its line here, and something that runs it.
var docCommands = map[string]runner{
	// README: the demo, install, the Debian steps, the tests.
	"go run ./cmd/listprobe demo":                                   {self: true},
	"go install github.com/listprobe/listprobe/cmd/listprobe@<tag>": {by: installRoute},
	"go build -o listprobe ./cmd/listprobe":                         {self: true},
	"go -C tools run ./debpackage":                                  {by: debianSteps},
	"sudo dpkg -i dist/listprobe_*_amd64.deb":                       {by: debianSteps},
	"sudoedit /etc/listprobe/listprobe.yml":                         {not: "a person edits the config; check.sh keeps the packaged example, which is valid"},
	"head -c 32 /dev/urandom | base64 | sudo install -m 600 /dev/stdin /etc/listprobe/secrets/signing_key":           {by: debianSteps},
	"printf %s 'the member password' | sudo install -m 600 /dev/stdin /etc/listprobe/secrets/member_password":        {by: debianSteps},
	"printf %s 'the reader password' | sudo install -m 600 /dev/stdin /etc/listprobe/secrets/reader_password":        {by: debianSteps},
	"printf %s 'the Mailman REST password' | sudo install -m 600 /dev/stdin /etc/listprobe/secrets/mailman_password": {by: debianSteps},
	"sudo listprobe check-config --config.check-secrets=false --config.file=/etc/listprobe/listprobe.yml":            {by: debianSteps},
	"sudo systemctl enable --now listprobe": {not: "the CI machine runs no systemd, and the example config would probe example.org; check.sh checks the unit with systemd-analyze"},
	"journalctl -u listprobe":               {not: "no systemd journal on the CI machine"},
	"sudo deploy/testbed/up.sh":             {ci: true},
	"go test -race -count=1 ./...":          {ci: true},
	"sudo deploy/testbed/down.sh":           {ci: true},
	// docs/commands.md, docs/configuration.md: console examples.
	"listprobe once --config.file=listprobe.yml":                                                {self: true},
	"listprobe once --config.file=listprobe.yml --list=healthy@lists.example.org":               {self: true},
	"listprobe explain checks/testdata/evidence/hold_notice-mailman3-real-moderated-member.eml": {self: true},
	"listprobe check-config --config.file=listprobe.yml":                                        {self: true},
	"listprobe check-config --config.file=ok.yml":                                               {self: true},
	"echo $?": {self: true},
	// docs/deploy.md: Kubernetes, container, Compose.
	"image=registry.example.org/listprobe":        {by: k8sRecipe},
	"tag=$(git describe --tags --always --dirty)": {by: k8sRecipe},
	"overlay=deploy/kubernetes/overlays/example":  {by: k8sRecipe},
	`docker build -f deploy/container/Containerfile --build-arg VERSION="$tag" --build-arg REVISION="$(git rev-parse HEAD)" -t "$image:$tag" .`: {by: k8sRecipe},
	`docker push "$image:$tag"`: {by: k8sRecipe},
	`sed -i "s|newName: .*|newName: $image|; s|newTag: .*|newTag: $tag|" "$overlay/kustomization.yaml"`: {by: k8sRecipe},
	`install -d -m 700 "$overlay/secrets"`:                                                                  {by: k8sRecipe},
	`head -c 32 /dev/urandom | base64 | install -m 600 /dev/stdin "$overlay/secrets/signing_key"`:           {by: k8sRecipe},
	`printf %s 'the member password' | install -m 600 /dev/stdin "$overlay/secrets/member_password"`:        {by: k8sRecipe},
	`printf %s 'the reader password' | install -m 600 /dev/stdin "$overlay/secrets/reader_password"`:        {by: k8sRecipe},
	`printf %s 'the Mailman REST password' | install -m 600 /dev/stdin "$overlay/secrets/mailman_password"`: {by: k8sRecipe},
	`listprobe check-config --config.check-secrets=false --config.file="$overlay/listprobe.yml"`:            {by: k8sRecipe},
	`kubectl apply -k "$overlay"`: {by: k8sRecipe},
	`docker build -f deploy/container/Containerfile --build-arg VERSION="$(git describe --tags --always --dirty)" --build-arg REVISION="$(git rev-parse HEAD)" -t listprobe .`: {not: "no container engine on the CI machine; deploytest's TestContainerBuildIsStatic runs the Containerfile's build command"},
	"secrets=deploy/compose/secrets":                      {by: composeRecipe},
	`sudo install -d -m 700 -o 65532 -g 65532 "$secrets"`: {by: composeRecipe},
	`head -c 32 /dev/urandom | base64 | sudo install -m 600 -o 65532 -g 65532 /dev/stdin "$secrets/signing_key"`:           {by: composeRecipe},
	`printf %s 'the member password' | sudo install -m 600 -o 65532 -g 65532 /dev/stdin "$secrets/member_password"`:        {by: composeRecipe},
	`printf %s 'the reader password' | sudo install -m 600 -o 65532 -g 65532 /dev/stdin "$secrets/reader_password"`:        {by: composeRecipe},
	`printf %s 'the Mailman REST password' | sudo install -m 600 -o 65532 -g 65532 /dev/stdin "$secrets/mailman_password"`: {by: composeRecipe},
	"docker compose -f deploy/compose/compose.yaml up --build":                                                             {by: composeRecipe},
	"docker compose -f deploy/compose/compose.yaml -f deploy/compose/compose.demo.yaml up --build":                         {by: composeDemo},
	// docs/development.md, docs/faults.md, docs/latency-and-cost.md.
	"go -C tools test -race -count=1 -timeout 20m ./...":                                    {ci: true},
	"go test -race -count=1 -p 1 -tags faults -run TestFault ./cmd/listprobe":               {ci: true},
	"go test ./checks/imapwatch/ -run '^$' -bench MailboxLatencyTestbed -benchtime 1x":      {ci: true},
	"go test ./probe/config/ -run '^$' -bench Load":                                         {ci: true},
	"go run ./cmd/listprobe-bench -lists 200 -duration 2m":                                  {ci: true},
	"go test ./probe/ -run TestMetricsBytesPerList -v":                                      {ci: true},
	"go test ./probe/ -run '^$' -bench 'Scrape|MetricsMemory|HistoryMemory' -benchtime 2x":  {ci: true},
	"go test ./probe/ -run TestKeptSuccessStaysSmall -v":                                    {ci: true},
	"go test ./probe/ -run '^$' -bench 'RegistryMemory|InFlightMemory' -benchtime 1x":       {ci: true},
	"go test ./probe/web/ -run '^$' -bench StatusPage -benchtime 10x":                       {ci: true},
	"go run ./cmd/listprobe-bench -lists 10000 -duration 10m":                               {not: "ten minutes and 1.3 GiB: run by hand for the figures; CI runs the same command with -lists 200 -duration 2m"},
	"go run ./cmd/listprobe-bench -lists 10000 -duration 10m -shard.count=4 -shard.index=0": {not: "ten minutes: run by hand for the figures; TestShardsProbeEveryListExactlyOnce checks the shards"},
	// docs/releasing.md.
	`git tag -a v0.1.0 -m "listprobe v0.1.0"`: {by: release},
	"git push origin v0.1.0":                  {by: release},
	"go -C tools run ./release":               {by: release},
}

// Every command of the docs is in docCommands, and what it names runs it:
// .ci/run has it as printed, or the named test or script exists and reads
// that doc. A command that drifts from what runs it fails here.
func TestEveryDocCommandIsRun(t *testing.T) {
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	ciText := strings.Join(strings.Fields(string(ci)), " ")
	seen := map[string]bool{}
	for _, file := range docFiles(t) {
		for _, b := range docBlocks(t, file) {
			for _, c := range b.commands() {
				seen[c] = true
				r, ok := docCommands[c]
				where := fmt.Sprintf("%s:%d: %s", b.file, b.line, c)
				switch {
				case !ok:
					t.Errorf("%s\n\tis run by no test and no .ci/run step: run it as printed in one, and add it to docCommands", where)
				case r.ci:
					if !strings.Contains(ciText, strings.Join(strings.Fields(strings.TrimPrefix(c, "sudo ")), " ")) {
						t.Errorf("%s\n\tdocCommands says .ci/run runs it; .ci/run does not have it as printed", where)
					}
				case r.by != "":
					checkRunBy(t, where, r.by, b.file)
				case r.not == "" && !r.self:
					t.Errorf("%s: docCommands says nothing about it", where)
				}
			}
		}
	}
	for c := range docCommands {
		if !seen[c] {
			t.Errorf("docCommands has %q, which no doc shows any more", c)
		}
	}
}

// checkRunBy checks that the test or script by exists and reads the doc.
func checkRunBy(t *testing.T, where, by, doc string) {
	t.Helper()
	path, test, _ := strings.Cut(by, ":")
	raw, err := os.ReadFile(filepath.Join("../..", path))
	if err != nil {
		t.Errorf("%s\n\tis run by %s: %v", where, by, err)
		return
	}
	if test != "" && !strings.Contains(string(raw), "func "+test+"(") {
		t.Errorf("%s\n\tis run by %s, which has no %s", where, path, test)
	}
	// The runner reads the doc by its path from the repository root or its
	// own directory (docs/x.md, ../docs/x.md, ../../docs/x.md), or the
	// README by name.
	if !strings.Contains(string(raw), doc) {
		t.Errorf("%s\n\tis run by %s, which does not read %s", where, by, doc)
	}
}

// The README's caption of the status page's screenshot says the timeout
// and schedule the browser test takes it with (the page shows "within 4s").
func TestScreenshotCaptionSaysItsTimeout(t *testing.T) {
	timeout, err := time.ParseDuration(screenshotTimeout)
	if err != nil {
		t.Fatal(err)
	}
	every := strings.TrimPrefix(screenshotSchedule, "@every ")
	want := fmt.Sprintf("with a %g s timeout and a probe\nevery %s", timeout.Seconds(), strings.TrimSuffix(every, "s")+" s")
	for _, f := range []string{"../../README.md", "../../docs/metrics.md"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), want) {
			t.Errorf("%s: the screenshot's caption does not say %q", f, want)
		}
	}
}

// listprobeOnPath writes a listprobe command into a new directory, for a
// shell to run as printed: this test binary, running run() (see TestMain).
func listprobeOnPath(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\n%s=1 exec %q \"$@\"\n", runAsListprobe, self)
	if err := os.WriteFile(filepath.Join(dir, "listprobe"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// decimals are the numbers that change from run to run in the examples'
// output: latencies.
var decimals = regexp.MustCompile(`\d+\.\d+`)

// logLines are left out of the examples (docs/commands.md says so): their
// times change, and once in a pipe logs its warnings.
var logLines = regexp.MustCompile(`(?m)^time=\S+ level=.*\n`)

// The console examples of the docs, run here as printed in a shell, print
// what the docs show (latencies aside): once on the demo's lists and on a
// refused reader, explain, check-config with errors and with warnings.
func TestDocConsoleExamples(t *testing.T) {
	for _, file := range docFiles(t) {
		for _, b := range docBlocks(t, file) {
			if b.lang != "console" {
				continue
			}
			t.Run(fmt.Sprintf("%s:%d", b.file, b.line), func(t *testing.T) {
				t.Parallel()
				dir := consoleSetup(t, b.commands()[0])
				// Each command echoed as the prompt shows it, then run with
				// $? still the previous command's.
				script := strings.Builder{}
				script.WriteString("rc=0\n")
				for _, c := range b.commands() {
					fmt.Fprintf(&script, "printf '%%s\\n' '%s'\n(exit $rc); %s\nrc=$?\n", strings.ReplaceAll("$ "+c, "'", `'\''`), c)
				}
				cmd := exec.Command("bash", "-c", script.String())
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "PATH="+listprobeOnPath(t)+":"+os.Getenv("PATH"))
				out, _ := cmd.CombinedOutput()
				got := decimals.ReplaceAllString(strings.TrimRight(logLines.ReplaceAllString(string(out), ""), "\n"), "N")
				want := decimals.ReplaceAllString(strings.Join(b.lines, "\n"), "N")
				if got != want {
					t.Errorf("%s:%d prints, as printed there:\n%s\n\nbut running it prints:\n%s", b.file, b.line, want, got)
				}
			})
		}
	}
}

// consoleSetup makes the world a console example runs in, chosen by its
// first command, and returns its directory.
func consoleSetup(t *testing.T, first string) string {
	t.Helper()
	switch first {
	case "listprobe once --config.file=listprobe.yml", "listprobe once --config.file=listprobe.yml --list=healthy@lists.example.org":
		// The demo's lists, with the config the demo writes, its schedule
		// set to @every 1m; for the one list, a reader that refuses.
		opts := sandbox.DemoOptions()
		world, err := sandbox.Start(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { world.Close() })
		dir := t.TempDir()
		file, err := writeDemoConfig(dir, world, opts, "@every 1m", 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(first, "--list=") {
			raw, _ := os.ReadFile(file)
			text := strings.Replace(string(raw), fmt.Sprintf("imap: { address: %q, tls: none, username: reader@", world.IMAPAddr), `imap: { address: "127.0.0.1:1", tls: none, username: reader@`, 1)
			if text == string(raw) {
				t.Fatal("the demo config has no reader imap line to point at a refused port")
			}
			os.WriteFile(file, []byte(text), 0o600)
		}
		return dir
	case "listprobe check-config --config.file=listprobe.yml", "listprobe check-config --config.file=ok.yml":
		dir := t.TempDir()
		modes := map[string]os.FileMode{"listprobe.yml": 0o644, "ok.yml": 0o644, "signing.key": 0o600, "mailman.password": 0o600,
			// The example shows the warning of a secret others can read.
			"member.password": 0o644, "reader.password": 0o644}
		for name, mode := range modes {
			raw, err := os.ReadFile(filepath.Join("testdata/docs", name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), raw, mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(filepath.Join(dir, name), mode)
		}
		return dir
	case "listprobe explain checks/testdata/evidence/hold_notice-mailman3-real-moderated-member.eml":
		return "../.."
	}
	t.Fatalf("a console example the test has no world for: %q: add it to consoleSetup", first)
	return ""
}

// The sh commands docCommands marks self, run here as printed: the demo
// (its status page answers, then Ctrl-C stops it) and the build from a
// clone.
func TestDocCommandsRunHere(t *testing.T) {
	t.Run("go run ./cmd/listprobe demo", func(t *testing.T) {
		if l, err := net.Listen("tcp", "127.0.0.1:9781"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("port 9781, the demo's, is taken: %v", err)
			}
			t.Skipf("port 9781, the demo's, is taken: %v", err)
		} else {
			l.Close()
		}
		cmd := exec.Command("go", "run", "./cmd/listprobe", "demo")
		cmd.Dir = "../.."
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				t.Error("the demo did not stop within 30 s of Ctrl-C")
			}
		}()
		lines := make(chan string, 16)
		go func() {
			s := bufio.NewScanner(stdout)
			for s.Scan() {
				lines <- s.Text()
			}
			close(lines)
		}()
		deadline := time.After(3 * time.Minute)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("the demo ended before printing its status page")
				}
				if strings.Contains(l, "status page http://127.0.0.1:9781/") {
					waitForPage(t, "http://127.0.0.1:9781/")
					go io.Copy(io.Discard, stdout)
					return
				}
			case <-deadline:
				t.Fatal("the demo printed no status page URL within 3 minutes")
			}
		}
	})
	t.Run("go build -o listprobe ./cmd/listprobe", func(t *testing.T) {
		out := "../../listprobe"
		if _, err := os.Stat(out); err == nil {
			t.Skip("./listprobe exists in the checkout: not overwriting it")
		}
		defer os.Remove(out)
		cmd := exec.Command("go", "build", "-o", "listprobe", "./cmd/listprobe")
		cmd.Dir = "../.."
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		v, err := exec.Command(out, "version").Output()
		if err != nil || !strings.HasPrefix(string(v), "listprobe, version ") {
			t.Errorf("./listprobe version: %q, %v", v, err)
		}
	})
}

func waitForPage(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), "healthy@lists.example.org") {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("the status page %s did not answer with the demo's lists", url)
}
