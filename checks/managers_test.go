package checks

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryListManagerFileIsListed: a notice_<name>.go file whose manager
// is missing from listManagers would compile and never be asked.
func TestEveryListManagerFileIsListed(t *testing.T) {
	files, err := filepath.Glob("notice_*.go")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, lm := range listManagers {
		if listed[lm.name] {
			t.Errorf("list manager %q is listed twice", lm.name)
		}
		listed[lm.name] = true
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		n++
		name := strings.TrimSuffix(strings.TrimPrefix(f, "notice_"), ".go")
		if !listed[name] {
			t.Errorf("%s defines list manager %q, which listManagers does not name", f, name)
		}
	}
	if n != len(listManagers) || n < 3 {
		t.Errorf("%d notice_*.go files, %d list managers: want one file per manager", n, len(listManagers))
	}
}
