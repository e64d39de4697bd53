package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/musubi-hq/musubi/engine"
	"github.com/musubi-hq/musubi/lang"
	"github.com/spf13/cobra"
)

func (a *app) outboxCommand() *cobra.Command {
	var f adminFlags
	var status string
	cmd := &cobra.Command{
		Use:   "outbox",
		Short: "List the rules engine's messages: queued, held, sent, dead letters, suppressed",
		Long: `Every message a trigger sends goes through the engine's outbox, written in the same
transaction as the event that caused it, and is delivered with an idempotency key, so it
goes out once. The outbox lists them, oldest first (at most 1,000):

  queued      waiting to go out, or to be retried after a failed attempt (with backoff)
  held        waiting for the quiet hours of the delivery block to end
  pending     queued and held together
  sent        delivered; the channel's message ID is kept
  dead        refused by the channel, or failed 8 times: "musubi outbox retry" sends it again
  suppressed  never sent, with the reason: no consent, no address, a frequency cap, no codes left

` + whichEngine,
		Example: `  musubi outbox
  musubi outbox --status dead
  musubi outbox retry 42
  musubi outbox retry --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			items, c, err := a.listOutbox(cmd.Context(), &f, status)
			if err != nil {
				return err
			}
			if f.asJSON {
				return writeJSONOut(a.out, map[string]any{"items": items})
			}
			if len(items) == 0 {
				what := "The outbox is empty"
				if status != "" {
					what = "No " + status + " messages"
				}
				fmt.Fprintf(a.out, "%s (%s).\n", what, c)
				return nil
			}
			return writeOutbox(a.out, items)
		},
	}
	f.register(cmd.PersistentFlags())
	cmd.Flags().StringVar(&status, "status", "", "only messages with this status: "+strings.Join(engine.OutboxStatuses, ", "))

	var all bool
	retry := &cobra.Command{
		Use:   "retry SEQ|KEY... | --all",
		Short: "Send dead letters again",
		Long: `Retry puts dead letters back in the queue with their attempts reset, once the cause is fixed
(a channel credential, an outage that lasted, a provider missing from the server). Each keeps
its idempotency key, so a message the channel did receive before it was given up is not
delivered twice. Without a running server the letters are queued in the store and go out
when musubi serve next starts.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if all != (len(args) == 0) {
				return errors.New("name the dead letters by SEQ (the first column of musubi outbox --status dead) or key, or give --all")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.connectEngine(ctx, &f, "musubi outbox retry", true)
			if err != nil {
				return err
			}
			defer c.close()
			if all {
				dead, err := c.outbox(ctx, engine.StatusDead)
				if err != nil {
					return err
				}
				for _, it := range dead {
					args = append(args, strconv.FormatInt(it.Seq, 10))
				}
				if len(args) == 0 {
					fmt.Fprintf(a.out, "There are no dead letters (%s).\n", c.where)
					return nil
				}
			}
			var done []*engine.OutboxItem
			var errs []error
			for _, ref := range args {
				it, err := c.admin().RetryOutbox(ctx, ref)
				if err = c.explain(err); err != nil {
					errs = append(errs, err)
					continue
				}
				done = append(done, it)
				if !f.asJSON {
					fmt.Fprintf(a.out, "Queued %d (%s) again.\n", it.Seq, lang.EscapeControls(it.Name+" to "+it.To+" via "+it.Via))
				}
			}
			if f.asJSON {
				if err := writeJSONOut(a.out, map[string]any{"items": done}); err != nil {
					return err
				}
			} else if len(done) > 0 && c.client == nil {
				fmt.Fprintln(a.out, "No server runs on the store: they go out when musubi serve starts.")
			}
			return errors.Join(errs...)
		},
	}
	retry.Flags().BoolVar(&all, "all", false, "retry every dead letter")
	cmd.AddCommand(retry)
	return cmd
}

func (c *engineConn) outbox(ctx context.Context, status string) ([]engine.OutboxItem, error) {
	if c.client != nil {
		items, err := c.client.Outbox(ctx, status)
		return items, c.explain(err)
	}
	return engine.ListOutbox(ctx, c.store, status, time.Now(), 1000)
}

// listOutbox lists the outbox of the engine; without a server it reads the store only.
func (a *app) listOutbox(ctx context.Context, f *adminFlags, status string) ([]engine.OutboxItem, string, error) {
	c, err := a.connectEngine(ctx, f, "musubi outbox", false)
	if err != nil {
		return nil, "", err
	}
	defer c.close()
	items, err := c.outbox(ctx, status)
	if items == nil {
		items = []engine.OutboxItem{}
	}
	return items, c.where, err
}

// writeOutbox prints outbox items as a table for people.
func writeOutbox(w io.Writer, items []engine.OutboxItem) error {
	now := time.Now()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// The text goes last: tabwriter counts runes, and Japanese is two columns wide.
	fmt.Fprintln(tw, "SEQ\tSTATUS\tCREATED\tNAME\tVIA\tTO\tDETAIL\tTEXT")
	esc := lang.EscapeControls // names, addresses, texts and provider errors
	for _, it := range items {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Seq, outboxState(&it, now), it.CreatedAt.Local().Format("2006-01-02 15:04:05"),
			esc(it.Name), esc(it.Via), esc(orDash(it.To)), esc(orDash(outboxDetail(&it, now))), esc(orDash(clip(it.Text, 40))))
	}
	return tw.Flush()
}

// outboxState is the status people see: pending items are queued or held.
func outboxState(it *engine.OutboxItem, now time.Time) string {
	if it.Status != engine.StatusPending {
		return it.Status
	}
	if it.Held(now) {
		return engine.ViewHeld
	}
	return engine.ViewQueued
}

func outboxDetail(it *engine.OutboxItem, now time.Time) string {
	switch it.Status {
	case engine.StatusSent:
		d := "sent " + it.SentAt.Local().Format("15:04:05")
		if it.MessageID != "" {
			d += ", message " + it.MessageID
		}
		return d
	case engine.StatusDead:
		return fmt.Sprintf("after %d attempt%s: %s", it.Attempts, plural(it.Attempts, "", "s"), orDash(firstOf(it.LastError, it.Reason)))
	case engine.StatusSuppressed:
		return it.Reason
	}
	if it.Held(now) {
		return it.Reason
	}
	if it.Attempts > 0 {
		return fmt.Sprintf("attempt %d failed (%s); next at %s", it.Attempts, it.LastError, it.NextAt.Local().Format("15:04:05"))
	}
	return ""
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clip shortens a text to n runes on one line.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
