package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/musubi-hq/musubi/lang"
	"github.com/spf13/cobra"
)

func (a *app) segmentsCommand() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "segments",
		Short: "List the rules engine's segments: members now, and each system's audience of them",
		Long: `Segments lists every segment of the active rules with the customers in it now, and for
each system that holds it as an audience (a campaign's audience, an audience_export) how far
the engine has brought that system in step: members pushed, members the system could not
match (no identifier it knows), moves not pushed yet, the last sync and the last error.

` + whichEngine,
		Example: `  musubi segments
  musubi segments -json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connectEngine(cmd.Context(), &f, "musubi segments", true)
			if err != nil {
				return err
			}
			defer c.close()
			segs, err := c.admin().Segments(cmd.Context())
			if err = c.explain(err); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSONOut(a.out, map[string]any{"segments": segs})
			}
			if len(segs) == 0 {
				fmt.Fprintf(a.out, "No segments in the active rules (%s).\n", c.where)
				return nil
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEGMENT\tMEMBERS\tAUDIENCE\tPUSHED\tUNMATCHED\tPENDING\tLAST SYNC\tLAST ERROR")
			for _, s := range segs {
				if len(s.Audiences) == 0 {
					fmt.Fprintf(tw, "%s\t%d\t-\t\t\t\t\t\n", s.Name, s.Members)
				}
				for _, au := range s.Audiences {
					last := "-"
					if !au.LastSync.IsZero() {
						last = au.LastSync.Local().Format(time.DateTime)
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%s\t%s\n", s.Name, s.Members, au.Provider, au.Pushed, au.Unmatched, au.Pending,
						last, lang.EscapeControls(au.LastError))
				}
			}
			return tw.Flush()
		},
	}
	f.register(cmd.PersistentFlags())
	return cmd
}
