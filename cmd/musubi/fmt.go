package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/rogpeppe/go-internal/diff"
	"github.com/spf13/cobra"
)

func (a *app) fmtCommand() *cobra.Command {
	var check, showDiff, recursive bool
	write := true
	list := true
	cmd := &cobra.Command{
		Use:   "fmt [PATH...]",
		Short: "Rewrite configuration files in the canonical layout",
		Long: `Fmt rewrites *.hcl, *.test.hcl and *` + lang.VarFileSuffix + ` files in the canonical layout and lists the
files it changed. PATH is a file or a directory; the default is the current directory.

With -check, nothing is written and the exit status is 3 when a file needs formatting,
so CI can enforce the layout. Files that do not parse are reported and left alone.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"."}
			}
			files, err := formatTargets(args, recursive)
			if err != nil {
				return err
			}
			if check {
				write = false
			}
			changed, broken := 0, false
			for _, path := range files {
				src, err := lang.ReadFile(path) // only what lies inside the directory, bounded
				if err != nil {
					return err
				}
				out, diags := lang.Format(src, path)
				if diags.HasErrors() {
					lang.WriteDiagnostics(a.err, map[string]*hcl.File{path: {Bytes: src}}, diags, a.color(a.err))
					broken = true
					continue
				}
				if bytes.Equal(src, out) {
					continue
				}
				changed++
				if list {
					fmt.Fprintln(a.out, path)
				}
				if showDiff {
					a.out.Write(diff.Diff("old/"+filepath.ToSlash(path), src, "new/"+filepath.ToSlash(path), out))
				}
				if write {
					info, err := os.Stat(path)
					if err != nil {
						return err
					}
					if err := os.WriteFile(path, out, info.Mode().Perm()); err != nil {
						return err
					}
				}
			}
			switch {
			case broken:
				return exitError{1}
			case check && changed > 0:
				return exitError{3}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "only check; exit 3 when a file needs formatting")
	cmd.Flags().BoolVar(&showDiff, "diff", false, "print the changes as a unified diff")
	cmd.Flags().BoolVar(&recursive, "recursive", false, "also format files in subdirectories")
	cmd.Flags().BoolVar(&write, "write", true, "write the result to the files")
	cmd.Flags().BoolVar(&list, "list", true, "list the files that need formatting")
	return cmd
}

// formatTargets expands paths into the files fmt handles, sorted.
func formatTargets(paths []string, recursive bool) ([]string, error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && (!recursive || d.Name()[0] == '.') {
					return filepath.SkipDir
				}
				return nil
			}
			if lang.IsFormattable(d.Name()) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	return files, nil
}
