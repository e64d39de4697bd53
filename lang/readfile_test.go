package lang

import (
	"strings"
	"testing"
)

func TestFileReadsAreBounded(t *testing.T) {
	big := strings.Repeat("a", MaxFileSize+1)
	fsys := mapFS("big.txt", big, "ok.txt", big[:MaxFileSize], "big.tpl", big)
	for call, want := range map[string]string{
		`file("ok.txt")`:              "",
		`file("big.txt")`:             `main.hcl:2:11: Error in function call: Call to function "file" failed: "big.txt" is larger than 4 MiB, the most Musubi reads from one file.`,
		`templatefile("big.tpl", {})`: `main.hcl:2:11: Error in function call: Call to function "templatefile" failed: "big.tpl" is larger than 4 MiB, the most Musubi reads from one file.`,
	} {
		fsys["main.hcl"] = mapFS("main.hcl", "output \"x\" {\n  value = "+call+"\n}\n")["main.hcl"]
		_, diags := Load(fsys, ".", testOptions())
		if got := diagLines(diags); got != want {
			t.Errorf("%s:\n got: %s\nwant: %s", call, got, want)
		}
	}
	// A configuration file too.
	fsys = mapFS("main.hcl", "# "+big+"\n")
	if _, diags := Load(fsys, ".", testOptions()); !strings.Contains(diagLines(diags), "main.hcl is larger than 4 MiB") {
		t.Errorf("a configuration file over the limit: %s", diagLines(diags))
	}
}
