package superd_test

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/superd/superd"

// forbidden is the import table of DESIGN.md, and the libraries superd and
// superctl must not link. A deny entry ending in "/" is a prefix (the whole
// subtree); any other is one exact package path.
var forbidden = []struct {
	pkg    string // package path relative to the module
	deps   bool   // check every dependency, not just direct imports
	denies []string
}{
	{"ipc/apitype", true, []string{module + "/"}},
	{"config", false, []string{module + "/supervisor", module + "/supervisor/", module + "/ipc", module + "/ipc/"}},
	{"supervisor/reaper", true, []string{module + "/"}},
	{"supervisor/logs", true, []string{module + "/"}},
	{"supervisor", false, []string{module + "/ipc", module + "/cmd/", "github.com/coreos/go-systemd/", "github.com/pelletier/go-toml/"}},
	{"ipc", false, []string{module + "/supervisor", module + "/supervisor/", module + "/config"}},
	// superctl links ipc's client, not the metrics exposition that only
	// superd's /metrics needs (it lives in ipc/metrics for that reason),
	// nor the Prometheus libraries.
	{"cmd/superctl", true, []string{module + "/supervisor", module + "/supervisor/", module + "/config", "github.com/pelletier/go-toml/",
		module + "/ipc/metrics", "github.com/prometheus/"}},
	// superd links neither client_golang nor protobuf, whose package
	// initialisers cost every start a few milliseconds (protobuf's
	// internal/detrand hashes the whole executable); ipc/metrics writes the
	// Prometheus text format itself.
	{"cmd/superd", true, []string{"github.com/prometheus/", "google.golang.org/protobuf/"}},
}

// TestImportBoundaries fails when a package imports what DESIGN.md forbids
// it (for leaves, superctl and superd: depends on it at all).
func TestImportBoundaries(t *testing.T) {
	for _, f := range forbidden {
		t.Run(f.pkg, func(t *testing.T) {
			args := []string{"list", "-f", `{{join .Imports "\n"}}`, "./" + f.pkg}
			if f.deps {
				args = []string{"list", "-deps", "./" + f.pkg}
			}
			out, err := exec.Command("go", args...).CombinedOutput()
			if err != nil {
				t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			self := module + "/" + f.pkg
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				dep := sc.Text()
				if dep == self {
					continue
				}
				for _, d := range f.denies {
					if dep == d || strings.HasSuffix(d, "/") && strings.HasPrefix(dep, d) {
						t.Errorf("%s depends on %s; DESIGN.md forbids it", f.pkg, dep)
					}
				}
			}
		})
	}
}

// TestOnlyReaperWaits fails when code outside supervisor/reaper waits on a
// process: Wait4, exec.Cmd Wait/Run/Output/CombinedOutput, os.Process.Wait.
// Tests are exempt: they may run helper commands to completion.
func TestOnlyReaperWaits(t *testing.T) {
	waits := map[string]bool{"Wait4": true, "Wait": true, "Run": true, "Output": true, "CombinedOutput": true}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == filepath.Join("supervisor", "reaper") || strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "bench" || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !waits[sel.Sel.Name] {
				return true
			}
			if suspicious(file, sel) {
				t.Errorf("%s: %s() outside supervisor/reaper: only the reaper waits", fset.Position(call.Pos()), sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// suspicious reports whether sel looks like a process wait: syscall/unix
// Wait4, or Wait/Run/Output on something in a file that imports os/exec, or
// Wait in a file that imports os and names an *os.Process.
func suspicious(file *ast.File, sel *ast.SelectorExpr) bool {
	imports := map[string]bool{}
	for _, im := range file.Imports {
		imports[strings.Trim(im.Path.Value, `"`)] = true
	}
	if sel.Sel.Name == "Wait4" {
		return true
	}
	if imports["os/exec"] {
		return true
	}
	if sel.Sel.Name == "Wait" {
		if id, ok := sel.X.(*ast.Ident); ok && id.Obj != nil {
			if vs, ok := id.Obj.Decl.(*ast.ValueSpec); ok {
				if se, ok := vs.Type.(*ast.StarExpr); ok {
					if s, ok := se.X.(*ast.SelectorExpr); ok && s.Sel.Name == "Process" {
						return true
					}
				}
			}
		}
	}
	return false
}
