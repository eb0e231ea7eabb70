package tools

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The house rules of issue 14: a function longer than maxFuncLines is split
// into named helpers, and a non-test file longer than maxFileLines says why
// near its top, in a comment that starts with longFileMark.
const (
	maxFuncLines = 80
	maxFileLines = 600
	longFileMark = "// Long file:"
)

// sizeOffence is one function or file over its limit.
type sizeOffence struct {
	where string // path:line
	what  string // the function's name, or "file"
	lines int
}

func (o sizeOffence) String() string {
	return fmt.Sprintf("%s: %s is %d lines", o.where, o.what, o.lines)
}

// goFiles returns the .go files under root, skipping testdata, hidden
// directories and vendored code.
func goFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(name, ".go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	return files
}

// funcOffences returns the functions and function literals of one file whose
// declaration, from its first line to its closing brace, is over the limit.
func funcOffences(fset *token.FileSet, file *ast.File, path string) []sizeOffence {
	var found []sizeOffence
	ast.Inspect(file, func(n ast.Node) bool {
		var name string
		var body *ast.BlockStmt
		switch f := n.(type) {
		case *ast.FuncDecl:
			name, body = f.Name.Name, f.Body
			if f.Recv != nil && len(f.Recv.List) == 1 {
				name = recvName(f.Recv.List[0].Type) + "." + name
			}
		case *ast.FuncLit:
			name, body = "func literal", f.Body
		}
		if body == nil {
			return true
		}
		start := fset.Position(n.Pos()).Line
		lines := fset.Position(body.Rbrace).Line - start + 1
		if lines > maxFuncLines {
			found = append(found, sizeOffence{fmt.Sprintf("%s:%d", path, start), name, lines})
		}
		return true
	})
	return found
}

// recvName is the type name of a method's receiver.
func recvName(e ast.Expr) string {
	switch r := e.(type) {
	case *ast.StarExpr:
		return recvName(r.X)
	case *ast.IndexExpr:
		return recvName(r.X)
	case *ast.IndexListExpr:
		return recvName(r.X)
	case *ast.Ident:
		return r.Name
	}
	return "?"
}

// fileOffence reports a non-test file over the limit whose first lines do
// not say why it is long.
func fileOffence(t *testing.T, path string, lines int) *sizeOffence {
	t.Helper()
	if strings.HasSuffix(path, "_test.go") || lines <= maxFileLines {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for i := 0; i < 40 && sc.Scan(); i++ {
		if strings.HasPrefix(strings.TrimSpace(sc.Text()), longFileMark) {
			return nil
		}
	}
	return &sizeOffence{path + ":1", "file", lines}
}

// sizeOffences checks every Go file of both modules (tools/ lies under the
// repository's root).
func sizeOffences(t *testing.T, root string) []sizeOffence {
	t.Helper()
	var found []sizeOffence
	fset := token.NewFileSet()
	for _, path := range goFiles(t, root) {
		file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", path, err)
		}
		rel, _ := filepath.Rel(root, path)
		found = append(found, funcOffences(fset, file, rel)...)
		lines := fset.Position(file.FileEnd).Line
		if o := fileOffence(t, path, lines); o != nil {
			o.where = rel + ":1"
			found = append(found, *o)
		}
	}
	return found
}

func TestNoFunctionOrFileOverItsLimit(t *testing.T) {
	for _, o := range sizeOffences(t, "..") {
		t.Errorf("%v (limits: %d lines a function, %d a non-test file unless a %q comment at its top says why)",
			o, maxFuncLines, maxFileLines, longFileMark)
	}
}

func TestSizeCheckFindsOffenders(t *testing.T) {
	dir := t.TempDir()
	long := "package p\n\nfunc Long() {\n" + strings.Repeat("\t_ = 1\n", maxFuncLines-1) + "}\n"
	short := "package p\n\nfunc Short() {\n" + strings.Repeat("\t_ = 1\n", maxFuncLines-2) + "}\n"
	lit := "package p\n\nvar F = func() {\n" + strings.Repeat("\t_ = 1\n", maxFuncLines) + "}\n"
	big := "package p\n" + strings.Repeat("\n", maxFileLines)
	excused := "package p\n\n" + longFileMark + " one table, read top to bottom.\n" + strings.Repeat("\n", maxFileLines)
	for name, text := range map[string]string{
		"long.go": long, "short.go": short, "lit.go": lit, "big.go": big,
		"big_test.go": big, "excused.go": excused,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, o := range sizeOffences(t, dir) {
		got = append(got, o.where+" "+o.what)
	}
	want := []string{"big.go:1 file", "lit.go:3 func literal", "long.go:3 Long"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("offences = %q, want %q", got, want)
	}
}
