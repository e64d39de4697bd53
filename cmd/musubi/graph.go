package main

import (
	"fmt"

	"github.com/musubi-hq/musubi/planner"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/spf13/cobra"
)

func (a *app) graphCommand() *cobra.Command {
	var cf configFlags
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Print the resource graph in Graphviz DOT",
		Long: `Graph prints the resource instances the configuration expands into, grouped by the block
that declares them, with an arrow from each to what it needs. Render it with
  musubi graph | dot -Tsvg > graph.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := a.loadConfig(&cf)
			if err != nil {
				return err
			}
			fmt.Fprint(a.out, planner.DOT(planner.Expand(cfg, states.New(""), nil)))
			return nil
		},
	}
	cf.register(cmd.Flags())
	return cmd
}
