package tools

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// heavyModules are the modules that only the tooling tests need. None of them
// may appear anywhere in the listprobe module's graph: everyone who builds or
// installs listprobe would resolve them.
var heavyModules = []string{
	"k8s.io/",
	"sigs.k8s.io/kustomize/",
	"github.com/prometheus/prometheus@",
	"github.com/prometheus-operator/",
	"github.com/grafana/grafana-foundation-sdk/",
	"github.com/goreleaser/nfpm/",
}

// heavyIn returns the heavy modules named in the output of `go mod graph`.
func heavyIn(graph string) []string {
	var found []string
	for _, edge := range strings.Split(graph, "\n") {
		for _, mod := range strings.Fields(edge) {
			for _, heavy := range heavyModules {
				if strings.HasPrefix(mod, heavy) && !slices.Contains(found, mod) {
					found = append(found, mod)
				}
			}
		}
	}
	return found
}

func TestListprobeModuleGraphIsLean(t *testing.T) {
	cmd := exec.Command("go", "mod", "graph")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod graph of the listprobe module: %v", err)
	}
	if !strings.HasPrefix(string(out), "github.com/listprobe/listprobe ") {
		t.Fatalf("go mod graph ran in the wrong module: %.200s", out)
	}
	if found := heavyIn(string(out)); len(found) > 0 {
		t.Errorf("the listprobe module's graph names tooling-only modules %v: move the code that imports them into tools/", found)
	}
}

func TestHeavyModuleCheckFindsThem(t *testing.T) {
	graph := "github.com/listprobe/listprobe github.com/prometheus/client_golang@v1.25.0\n" +
		"github.com/prometheus/client_golang@v1.25.0 github.com/prometheus/procfs@v0.22.0\n" +
		"github.com/listprobe/listprobe k8s.io/api@v0.37.2\n" +
		"github.com/foo/bar@v1.0.0 github.com/prometheus/prometheus@v0.316.0\n"
	got := heavyIn(graph)
	want := []string{"k8s.io/api@v0.37.2", "github.com/prometheus/prometheus@v0.316.0"}
	if !slices.Equal(got, want) {
		t.Errorf("heavyIn = %v, want %v", got, want)
	}
	if got := heavyIn("github.com/listprobe/listprobe github.com/prometheus/common@v0.73.1\n"); len(got) != 0 {
		t.Errorf("heavyIn flags prometheus/common: %v", got)
	}
}
