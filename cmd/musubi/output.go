package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/render"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

func (a *app) outputCommand() *cobra.Command {
	var cf configFlags
	var asJSON, raw bool
	cmd := &cobra.Command{
		Use:   "output [NAME]",
		Short: "Show the outputs recorded by the last apply",
		Long: `Output reads the state, wherever its backend keeps it, and shows the values the
configuration's output blocks had at the last apply: all of them as NAME = VALUE, or one by
NAME as a plain value for scripts (a string without quotes). -json prints them as JSON (all:
an object of {"sensitive", "type", "value"} by name; one: its value). -raw, for one NAME,
refuses a value that is not a string, number or bool.

A sensitive output's value is never written to the state, so it is shown as <sensitive>, and
asking for it by NAME is an error.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openState(cmd.Context(), &cf, &lockFlags{}, "output", true)
			defer s.close()
			if err != nil {
				return err
			}
			outs := s.state.Outputs
			if len(args) == 0 {
				if raw {
					return fmt.Errorf("-raw shows one output: name it, as in musubi output -raw NAME")
				}
				return a.writeOutputs(outs, asJSON, s.backend.Describe())
			}
			name := args[0]
			o, ok := outs[name]
			if !ok {
				return unknownOutput(name, outs, s.backend.Describe())
			}
			if o.Sensitive {
				return fmt.Errorf("output %q is sensitive: its value is never written to the state; read it from where the configuration takes it", name)
			}
			if asJSON {
				var b bytes.Buffer
				if err := json.Compact(&b, o.Value); err != nil {
					return fmt.Errorf("output %q: %w", name, err)
				}
				b.WriteByte('\n')
				_, err := a.out.Write(b.Bytes())
				return err
			}
			v, err := outputValue(o)
			if err != nil {
				return fmt.Errorf("output %q: %w", name, err)
			}
			if !v.IsNull() && (v.Type() == cty.String || v.Type() == cty.Number || v.Type() == cty.Bool) {
				if v.Type() == cty.String {
					fmt.Fprintln(a.out, lang.EscapeControls(v.AsString()))
				} else {
					fmt.Fprintln(a.out, lang.FormatCty(v))
				}
				return nil
			}
			if raw {
				return fmt.Errorf("output %q is not a string, number or bool, which is all -raw shows; use -json", name)
			}
			fmt.Fprintln(a.out, lang.FormatCty(v))
			return nil
		},
	}
	cf.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.Flags().BoolVar(&raw, "raw", false, "print one output's string, number or bool as it is")
	return cmd
}

func (a *app) writeOutputs(outs map[string]*states.Output, asJSON bool, where string) error {
	if asJSON {
		enc := json.NewEncoder(a.out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(render.OutputsJSON(outs))
	}
	if len(outs) == 0 {
		fmt.Fprintf(a.err, "No outputs in the %s: declare output blocks and run musubi apply.\n", where)
		return nil
	}
	for _, n := range slices.Sorted(maps.Keys(outs)) {
		o := outs[n]
		if o.Sensitive {
			fmt.Fprintf(a.out, "%s = <sensitive>\n", n)
			continue
		}
		v, err := outputValue(o)
		if err != nil {
			return fmt.Errorf("output %q: %w", n, err)
		}
		fmt.Fprintf(a.out, "%s = %s\n", n, lang.FormatCty(v))
	}
	return nil
}

func unknownOutput(name string, outs map[string]*states.Output, where string) error {
	if len(outs) == 0 {
		return fmt.Errorf("no output %q: the %s has no outputs; declare output blocks and run musubi apply", name, where)
	}
	names := slices.Sorted(maps.Keys(outs))
	if s := lang.Suggest(name, names); s != "" {
		return fmt.Errorf("no output %q in the %s; did you mean %q?", name, where, s)
	}
	return fmt.Errorf("no output %q in the %s; it has %s", name, where, quotedList(names))
}

func quotedList(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%q", n)
	}
	return out
}

// outputValue decodes a recorded output with the type recorded beside it.
func outputValue(o *states.Output) (cty.Value, error) {
	ty, err := ctyjson.UnmarshalType(o.Type)
	if err != nil {
		return cty.NilVal, err
	}
	return ctyjson.Unmarshal(o.Value, ty)
}
