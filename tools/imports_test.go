package tools

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/listprobe/listprobe"

// importOffences returns the imports that go against the flow cmd -> probe
// -> checks, given `go list` lines of a package and its imports: nothing
// in checks imports probe or cmd, nothing in probe imports cmd, and no
// package under checks imports Prometheus (metrics are probe's).
func importOffences(lines string) []string {
	var found []string
	for _, line := range strings.Split(strings.TrimSpace(lines), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		for _, imp := range strings.Fields(imports) {
			inChecks := pkg == module+"/checks" || strings.HasPrefix(pkg, module+"/checks/")
			inProbe := pkg == module+"/probe" || strings.HasPrefix(pkg, module+"/probe/")
			up := strings.HasPrefix(imp, module+"/cmd/") ||
				(inChecks && (imp == module+"/probe" || strings.HasPrefix(imp, module+"/probe/")))
			if (inChecks || inProbe) && up ||
				inChecks && strings.HasPrefix(imp, "github.com/prometheus/") {
				found = append(found, pkg+" imports "+imp)
			}
		}
	}
	return found
}

func TestImportsFlowOneWay(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}", "./checks/...", "./probe/...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if !strings.Contains(string(out), module+"/checks/imapwatch:") {
		t.Fatalf("go list listed no checks/imapwatch: %.300s", out)
	}
	for _, o := range importOffences(string(out)) {
		t.Errorf("%s: imports flow cmd -> probe -> checks, and checks keeps no metrics", o)
	}
}

func TestImportCheckFindsArrowsBackUp(t *testing.T) {
	lines := module + "/checks/submit: fmt " + module + "/probe\n" +
		module + "/checks: " + module + "/checks/token github.com/prometheus/client_golang/prometheus\n" +
		module + "/probe/web: " + module + "/probe " + module + "/cmd/listprobe\n" +
		module + "/probe: " + module + "/checks github.com/prometheus/client_golang/prometheus\n"
	got := strings.Join(importOffences(lines), "; ")
	want := module + "/checks/submit imports " + module + "/probe; " +
		module + "/checks imports github.com/prometheus/client_golang/prometheus; " +
		module + "/probe/web imports " + module + "/cmd/listprobe"
	if got != want {
		t.Errorf("offences:\n got %s\nwant %s", got, want)
	}
}
