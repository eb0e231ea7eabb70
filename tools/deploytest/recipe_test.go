package deploytest

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// deployDoc holds the recipes these tests run as written.
const deployDoc = "../docs/deploy.md"

// docBlock returns the fenced sh block of docs/deploy.md that contains
// marker, as the commands a user pastes.
func docBlock(t *testing.T, marker string) string {
	t.Helper()
	raw, err := os.ReadFile(deployDoc)
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(raw), "```")
	for i := 1; i < len(blocks); i += 2 {
		lang, body, _ := strings.Cut(blocks[i], "\n")
		if lang == "sh" && strings.Contains(body, marker) {
			return body
		}
	}
	t.Fatalf("%s has no sh block with %q", deployDoc, marker)
	return ""
}

// copyTree copies the directory src of the repository's deploy/ to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		to := filepath.Join(dst, path)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, raw, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// recorder writes commands into bin that record their arguments in log,
// one file per call, and print out for the given first argument.
func recorder(t *testing.T, bin, log, name string, out map[string]string) {
	t.Helper()
	var cases strings.Builder
	for arg, text := range out {
		cases.WriteString("\t" + arg + ") printf '%s\\n' '" + text + "' ;;\n")
	}
	script := "#!/bin/sh\nn=$(ls \"" + log + "\" | wc -l)\nprintf '%s\\0' " + name + " \"$PWD\" \"$@\" > \"" + log + "/$n\"\n" +
		"case \"$1\" in\n" + cases.String() + "esac\n"
	if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// recordedCall is one recorded invocation: command, directory, arguments.
type recordedCall struct {
	name, dir string
	args      []string
}

func recordedCalls(t *testing.T, log string) []recordedCall {
	t.Helper()
	entries, err := os.ReadDir(log)
	if err != nil {
		t.Fatal(err)
	}
	calls := make([]recordedCall, len(entries))
	for i := range entries {
		raw, err := os.ReadFile(filepath.Join(log, strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
		calls[i] = recordedCall{name: f[0], dir: f[1], args: f[2:]}
	}
	return calls
}

// The Kubernetes recipe of docs/deploy.md, pasted as written at the root of
// a copy of the repository (docker, git and kubectl record their
// arguments; listprobe is the real one), builds and pushes one image, and
// the overlay it applies renders with that image, the namespace, the
// config, and a Secret of exactly the keys the config names, holding the
// values it wrote (0600 files in a 0700 directory), which check-config
// accepts.
func TestKubernetesRecipeAppliesWhatItBuilt(t *testing.T) {
	recipe := docBlock(t, "kubectl apply -k")
	root, bin, log := t.TempDir(), t.TempDir(), t.TempDir()
	copyTree(t, "kubernetes", filepath.Join(root, "deploy"))
	copyTree(t, "container", filepath.Join(root, "deploy"))
	const tag, rev = "v1.2.3-4-g0123456789ab", "0123456789abcdef0123456789abcdef01234567"
	recorder(t, bin, log, "docker", nil)
	recorder(t, bin, log, "kubectl", nil)
	recorder(t, bin, log, "git", map[string]string{"describe": tag, "rev-parse": rev})
	if err := os.Symlink(buildListprobe(t, nil), filepath.Join(bin, "listprobe")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", recipe)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the recipe fails: %v\n%s\n%s", err, recipe, out)
	}
	if !strings.Contains(string(out), "valid: ") {
		t.Errorf("the recipe's check-config did not say valid:\n%s", out)
	}

	overlay := filepath.Join(root, "deploy", exampleOverlay)
	var built, pushed, applied string
	for _, c := range recordedCalls(t, log) {
		switch {
		case c.name == "git":
		case c.name == "docker" && len(c.args) > 0 && c.args[0] == "build":
			a := c.args
			i := slices.Index(a, "-f")
			if i < 0 || a[i+1] != "deploy/container/Containerfile" || a[len(a)-1] != "." || c.dir != root {
				t.Errorf("docker %v in %s: not a build of deploy/container/Containerfile from the repository root", a, c.dir)
			}
			for _, want := range []string{"VERSION=" + tag, "REVISION=" + rev} {
				if !slices.Contains(a, want) {
					t.Errorf("docker build %v: no --build-arg %s", a, want)
				}
			}
			if i := slices.Index(a, "-t"); i >= 0 {
				built = a[i+1]
			}
		case c.name == "docker" && len(c.args) == 2 && c.args[0] == "push":
			pushed = c.args[1]
		case c.name == "kubectl" && len(c.args) == 3 && c.args[0] == "apply" && c.args[1] == "-k":
			applied = filepath.Join(c.dir, c.args[2])
		default:
			t.Errorf("%s %v: a call the test does not know", c.name, c.args)
		}
	}
	if built == "" || built != pushed || !strings.HasSuffix(built, ":"+tag) {
		t.Errorf("built %q, pushed %q: want one image tagged %s", built, pushed, tag)
	}
	if applied != overlay {
		t.Errorf("kubectl apply -k %q, want the overlay %s", applied, overlay)
	}

	r := decodeRenderedIn(t, filesys.MakeFsOnDisk(), overlay)
	if img := r.pod.Spec.Containers[0].Image; img != built {
		t.Errorf("the overlay runs image %q, not the one built and pushed (%q)", img, built)
	}
	checkRecipeSecret(t, r, filepath.Join(overlay, "secrets"))
}

// checkRecipeSecret checks the rendered Secret against the files the recipe
// wrote in dir and the keys the rendered config names.
func checkRecipeSecret(t *testing.T, r renderedObjects, dir string) {
	t.Helper()
	mount, items := secretMount(t, r)
	if mount == "" || items != nil {
		t.Fatalf("the Secret is not mounted with each key as a file of its name (mount %q, items %v)", mount, items)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v, want a 0700 directory", dir, err)
	}
	config := r.configMap.Data["listprobe.yml"]
	want := map[string]bool{}
	var doc any
	if err := yaml.Unmarshal([]byte(config), &doc); err != nil {
		t.Fatal(err)
	}
	collectUnder(doc, mount+"/", want)
	if len(want) == 0 {
		t.Fatalf("the config names no file under %s", mount)
	}
	secret := r.secrets[0]
	for key := range want {
		file := filepath.Join(dir, key)
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("the config needs %s/%s; the recipe wrote no %s: %v", mount, key, file, err)
			continue
		}
		if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", file, fi.Mode().Perm())
		}
		if got := string(secret.Data[key]); got != string(raw) {
			t.Errorf("Secret key %s holds %q, the recipe wrote %q", key, got, raw)
		}
	}
	for key := range secret.Data {
		if !want[key] {
			t.Errorf("the Secret has key %s, which the config does not use", key)
		}
	}
	// The values the recipe wrote pass listprobe's own check.
	cfg := filepath.Join(t.TempDir(), "listprobe.yml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(config, mount+"/", dir+"/")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(buildListprobe(t, nil), "check-config", "--config.file="+cfg).CombinedOutput(); err != nil {
		t.Errorf("listprobe check-config with the recipe's secrets: %v\n%s", err, out)
	}
}

// collectUnder adds to keys every string in v that is a path under prefix,
// without the prefix.
func collectUnder(v any, prefix string, keys map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			collectUnder(e, prefix, keys)
		}
	case []any:
		for _, e := range v {
			collectUnder(e, prefix, keys)
		}
	case string:
		if key, ok := strings.CutPrefix(v, prefix); ok {
			keys[key] = true
		}
	}
}

// The Compose recipe of docs/deploy.md, run as written at the root of a
// copy of the repository (as root: it sets the owner; docker records its
// arguments), writes one file for every secret compose.yaml mounts into
// listprobe, each 0600 and owned by the container's user, and every secret
// listprobe.yml names is one of them; check-config accepts the config with
// those files; compose is started on compose.yaml.
func TestComposeRecipeWritesTheSecretsComposeMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true, but not root: the recipe sets the secrets' owner")
		}
		t.Skip("not root: the recipe sets the secrets' owner")
	}
	recipe := docBlock(t, "install -d -m 700 -o 65532")
	root, bin, log := t.TempDir(), t.TempDir(), t.TempDir()
	copyTree(t, "compose", filepath.Join(root, "deploy"))
	recorder(t, bin, log, "docker", nil)
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte("#!/bin/sh\nexec \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", recipe)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the recipe fails: %v\n%s\n%s", err, recipe, out)
	}
	calls := recordedCalls(t, log)
	if len(calls) != 1 || strings.Join(calls[0].args, " ") != "compose -f deploy/compose/compose.yaml up --build" || calls[0].dir != root {
		t.Errorf("docker calls %+v, want one compose up of deploy/compose/compose.yaml from the repository root", calls)
	}

	var c composeFile
	decodeYAMLStrict(t, "compose/compose.yaml", &c)
	uid := strings.SplitN(c.Services["listprobe"].User, ":", 2)[0]
	mounted := map[string]bool{}
	for _, name := range c.Services["listprobe"].Secrets {
		mounted[name] = true
		file := filepath.Join(root, "deploy", "compose", c.Secrets[name].File)
		fi, err := os.Stat(file)
		if err != nil {
			t.Errorf("compose mounts secret %s from %s, which the recipe did not write: %v", name, c.Secrets[name].File, err)
			continue
		}
		if fi.Mode().Perm() != 0o600 || strconv.Itoa(int(fileUID(fi))) != uid {
			t.Errorf("%s: mode %v, owner %d; want 0600, owned by the container's user %s", file, fi.Mode().Perm(), fileUID(fi), uid)
		}
	}
	raw, err := os.ReadFile("compose/listprobe.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	collectUnder(doc, "/run/secrets/", named)
	for name := range named {
		if !mounted[name] {
			t.Errorf("listprobe.yml names /run/secrets/%s, which compose does not mount", name)
		}
	}
	secrets := filepath.Join(root, "deploy", "compose", "secrets")
	cfg := filepath.Join(t.TempDir(), "listprobe.yml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(string(raw), "/run/secrets/", secrets+"/")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(buildListprobe(t, nil), "check-config", "--config.file="+cfg).CombinedOutput(); err != nil {
		t.Errorf("listprobe check-config with the recipe's secrets: %v\n%s", err, out)
	}
}

// The Containerfile's run example mounts the config and the secrets where
// compose does and where compose's listprobe.yml names them.
func TestContainerfileRunMountsAsComposeDoes(t *testing.T) {
	raw, err := os.ReadFile("container/Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{} // container path -> host path
	for _, f := range strings.Fields(string(raw)) {
		if host, rest, ok := strings.Cut(f, ":"); ok && strings.HasPrefix(host, "./") {
			target := strings.TrimSuffix(rest, ":ro")
			mounts[target] = strings.TrimPrefix(host, "./deploy/")
		}
	}
	var c composeFile
	decodeYAMLStrict(t, "compose/compose.yaml", &c)
	lp := c.Services["listprobe"]
	for target, host := range bindMounts(t, lp) {
		if mounts[target] != host {
			t.Errorf("compose mounts %s at %s; the Containerfile's example mounts %q there", host, target, mounts[target])
		}
	}
	// Compose mounts each secret at /run/secrets/<name>: the Containerfile
	// mounts the directory of those files there.
	if got := mounts["/run/secrets"]; got != "compose/secrets" {
		t.Errorf("the Containerfile's example mounts %q at /run/secrets, want compose's secrets directory compose/secrets", got)
	}
	for _, name := range lp.Secrets {
		if filepath.Dir(filepath.Join("compose", c.Secrets[name].File)) != "compose/secrets" {
			t.Errorf("compose's secret %s comes from %s, not compose/secrets", name, c.Secrets[name].File)
		}
	}
}

// fileUID is the owner of a file.
func fileUID(fi fs.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return 0
}

// The Compose demo of docs/deploy.md, run as written at the root of a copy
// of the repository (docker records its arguments), starts compose on both
// files, the demo's last.
func TestComposeDemoRecipe(t *testing.T) {
	recipe := docBlock(t, "compose.demo.yaml up --build")
	root, bin, log := t.TempDir(), t.TempDir(), t.TempDir()
	copyTree(t, "compose", filepath.Join(root, "deploy"))
	recorder(t, bin, log, "docker", nil)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", recipe)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the recipe fails: %v\n%s\n%s", err, recipe, out)
	}
	calls := recordedCalls(t, log)
	want := "compose -f deploy/compose/compose.yaml -f deploy/compose/compose.demo.yaml up --build"
	if len(calls) != 1 || strings.Join(calls[0].args, " ") != want {
		t.Fatalf("docker calls %+v, want one: docker %s", calls, want)
	}
	for _, f := range []string{"compose.yaml", "compose.demo.yaml"} {
		if _, err := os.Stat(filepath.Join(root, "deploy", "compose", f)); err != nil {
			t.Errorf("the recipe names %s: %v", f, err)
		}
	}
}
