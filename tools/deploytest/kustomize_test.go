package deploytest

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// shardsCommented and shardsEnabled are the lines of the example overlay
// that docs/deploy.md ("Shards") says to uncomment for shards.
const (
	shardsCommented = "# components:\n#   - ../../components/shards\n"
	shardsEnabled   = "components:\n  - ../../components/shards\n"
)

// kustomizeFS is deploy/kubernetes in memory, as a user has it once the
// recipe ran: every file a secretGenerator names exists (with a made-up
// secret), and kubernetes/overlays/sharded is the
// example overlay with the shards lines uncommented, as docs/deploy.md says.
func kustomizeFS(t *testing.T) filesys.FileSystem {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir("kubernetes", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return mem.WriteFile(path, raw)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, overlay := range []string{exampleOverlay} {
		raw, err := mem.ReadFile(filepath.Join(overlay, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var k struct {
			SecretGenerator []struct {
				Files []string `yaml:"files"`
			} `yaml:"secretGenerator"`
		}
		if err := yaml.Unmarshal(raw, &k); err != nil {
			t.Fatal(err)
		}
		for _, g := range k.SecretGenerator {
			for _, f := range g.Files {
				_, src, ok := strings.Cut(f, "=")
				if !ok {
					src = f
				}
				if err := mem.WriteFile(filepath.Join(overlay, src), []byte("an example secret of 32 bytes!!\n")); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !strings.Contains(string(raw), shardsCommented) {
			t.Fatalf("%s/kustomization.yaml has no commented lines\n%s(docs/deploy.md tells users to uncomment them for shards)", overlay, shardsCommented)
		}
		sharded := strings.Replace(string(raw), shardsCommented, shardsEnabled, 1)
		for _, f := range []string{"namespace.yaml", "listprobe.yml"} {
			b, err := mem.ReadFile(filepath.Join(overlay, f))
			if err != nil {
				t.Fatal(err)
			}
			mem.WriteFile(filepath.Join(shardedOverlay, f), b)
		}
		if secretsDir := filepath.Join(overlay, "secrets"); mem.Exists(secretsDir) {
			mem.Walk(secretsDir, func(path string, info fs.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					b, _ := mem.ReadFile(path)
					mem.WriteFile(filepath.Join(shardedOverlay, "secrets", filepath.Base(path)), b)
				}
				return err
			})
		}
		mem.WriteFile(filepath.Join(shardedOverlay, "kustomization.yaml"), []byte(sharded))
	}
	return mem
}
