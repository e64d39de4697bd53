package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDependenciesPointOneWay keeps the layout's rule: cmd → {engine, planner} → {lang,
// providers}, and lang and providers import nothing else of the project. Direct imports are
// enough: a package reaches another only through a direct import of the project's own.
func TestDependenciesPointOneWay(t *testing.T) {
	const module = "github.com/musubi-hq/musubi/"
	forbidden := map[string][]string{
		"providers": {"engine", "planner", "lang", "cmd"},
		"lang":      {"providers", "engine", "planner", "cmd"},
		"planner":   {"engine", "cmd"},
		"engine":    {"planner", "cmd"},
	}
	root := filepath.Join("..", "..")
	for tree, banned := range forbidden {
		err := filepath.WalkDir(filepath.Join(root, tree), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				top, _, _ := strings.Cut(strings.TrimPrefix(p, module), "/")
				for _, b := range banned {
					if strings.HasPrefix(p, module) && top == b {
						rel, _ := filepath.Rel(root, path)
						t.Errorf("%s imports %s: %s must not depend on %s", filepath.ToSlash(rel), p, tree, b)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
