package lang

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// IsFormattable reports whether `musubi fmt` formats a file: native-syntax configuration,
// test and variable files. JSON files are left as they are.
func IsFormattable(name string) bool {
	return (len(name) > len(NativeSuffix) && name[len(name)-len(NativeSuffix):] == NativeSuffix) ||
		(len(name) > len(VarFileSuffix) && name[len(name)-len(VarFileSuffix):] == VarFileSuffix)
}

// Format returns src in canonical layout (aligned equals signs, two-space indents). A file
// that does not parse is returned unchanged with its diagnostics, never half-formatted.
func Format(src []byte, filename string) ([]byte, hcl.Diagnostics) {
	if diags := checkHCL(src, filename, hclConfig); diags != nil {
		return src, diags
	}
	_, diags := hclwrite.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return src, diags
	}
	out := hclwrite.Format(src)
	// A file ends with exactly one newline.
	out = append(bytes.TrimRight(out, "\n"), '\n')
	if len(bytes.TrimSpace(out)) == 0 {
		return []byte{}, nil
	}
	return out, nil
}
