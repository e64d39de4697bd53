package smaregi

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// DefaultPollInterval is how often the engine reads a contract's new sales unless the
// provider's poll_interval says otherwise.
const DefaultPollInterval = time.Minute

// lookback is how far before the end of the last period read the next poll starts: a sale
// stamped just before the end may become visible just after the read. The sales read twice
// are known by the cursor (salesCursor.Seen) and, failing that, by the engine's event IDs.
const lookback = 2 * time.Minute

// maxReadsPerPoll bounds the sales read one by one (with their lines) in one poll, so a poll
// after a long stop hands the engine batches of a bounded size; the rest follows at once.
const maxReadsPerPoll = 200

// salesCursor is where the next poll of the contract's sales starts. Sales are read by
// upd_date_time periods in the order of their IDs, a page at a time: within a period, a
// page starts after the last ID read (After), so a sale changed or added meanwhile neither
// shifts a page nor hides another. A period is read to its end (To) before the next starts,
// lookback before that end.
type salesCursor struct {
	Since time.Time `json:"since"`
	To    time.Time `json:"to,omitzero"`
	After string    `json:"after,omitempty"`
	// Seen are the sales turned into events whose updDateTime is in the lookback of the
	// period read, by ID: the next period lists them again, and they are not read again.
	Seen map[string]time.Time `json:"seen,omitempty"`
}

// PollInterval is the provider's poll_interval.
func (p *Provider) PollInterval() time.Duration { return p.pollInterval }

// PollEvents reads the sales made or changed since cursor ("" is the first poll: from now)
// and turns each sale to a member into a purchase event (see purchase). A poll lists one page
// of transactions (up to 1,000) and reads at most 200 sales with their lines; when more is
// waiting it says so, and the engine polls again at once.
func (p *Provider) PollEvents(ctx context.Context, cursor string) (providers.PollResult, error) {
	cur := salesCursor{}
	if cursor != "" {
		if err := json.Unmarshal([]byte(cursor), &cur); err != nil {
			return providers.PollResult{}, fmt.Errorf("the poll cursor is not one provider %s wrote: %v", p.name, err)
		}
	}
	zone, _ := p.contractZone()
	now := p.client.cfg.Now().In(zone).Truncate(time.Second)
	if cur.Since.IsZero() {
		cur.Since = now.Add(-lookback)
	}
	to := cur.To
	if to.IsZero() {
		to = now
		if end := cur.Since.Add(MaxPeriod - time.Minute); end.Before(now) {
			to = end // catching up after a long stop, a period at a time
		}
	}
	if !to.After(cur.Since) {
		// The clock is behind the last period read (set back, or another host's): wait for it.
		return providers.PollResult{Cursor: cursor}, nil
	}
	heads, err := p.client.ListTransactions(ctx, TransactionQuery{UpdatedFrom: cur.Since.In(zone), UpdatedTo: to.In(zone), IDFrom: nextID(cur.After)})
	if err != nil {
		return providers.PollResult{}, err
	}
	if cur.Seen == nil {
		cur.Seen = map[string]time.Time{}
	}
	var evs []providers.InboundEvent
	reads, last, full := 0, cur.After, len(heads) == MaxPageSize
	for _, h := range heads {
		id := string(h.TransactionHeadID)
		if !h.IsSale() || (h.CustomerCode == "" && h.CustomerID == "") {
			last = id
			continue
		}
		if _, seen := cur.Seen[id]; seen {
			last = id
			continue
		}
		if reads == maxReadsPerPoll {
			full = true
			break
		}
		reads++
		t, err := p.client.GetTransaction(ctx, id)
		if providers.CodeOf(err) == providers.ErrNotFound {
			last = id // deleted since it was listed
			continue
		}
		if err != nil {
			return providers.PollResult{}, err
		}
		last = id
		if ev, ok := p.purchase(t); ok {
			evs = append(evs, ev)
			cur.Seen[id] = providers.TimeOr(string(h.UpdDateTime), to)
		}
	}
	if full {
		cur.To, cur.After = to, last
	} else {
		if next := to.Add(-lookback); next.After(cur.Since) {
			cur.Since = next
		}
		cur.To, cur.After = time.Time{}, ""
		for id, at := range cur.Seen {
			if at.Before(cur.Since) {
				delete(cur.Seen, id)
			}
		}
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return providers.PollResult{}, err
	}
	// A period that ended before now (catching up) is followed at once by the next.
	return providers.PollResult{Events: evs, Cursor: string(b), More: full || to.Before(now)}, nil
}

// nextID is the transaction ID after id ("" for none).
func nextID(id string) string {
	n, err := strconv.ParseInt(id, 10, 64)
	if id == "" || err != nil {
		return id
	}
	return strconv.FormatInt(n+1, 10)
}

// purchase turns a sale read with its lines into a purchase: ID transaction:CONTRACT:ID
// (the same whether a poll or a webhook brought it), channel pos, the time the register rang
// it up, the store, the member's customerCode and customerId as the record, and data with
// order_id, total (yen, which has no minor unit), currency, items and the serial numbers of
// the coupons used. A transaction that is no standing sale, or names no member, is none: nothing
// ties it to a customer.
func (p *Provider) purchase(t *Transaction) (providers.InboundEvent, bool) {
	record := providers.NonEmpty("customerCode", string(t.CustomerCode), "customerId", string(t.CustomerID))
	if !t.IsSale() || len(record) == 0 {
		return providers.InboundEvent{}, false
	}
	items := make([]any, 0, len(t.Details))
	for _, d := range t.Details {
		if d.TransactionDetailDivision == "2" { // a returned line
			continue
		}
		price := d.SalesPrice
		if price == "" {
			price = d.Price
		}
		item := map[string]any{"price": amount(price), "quantity": amount(d.Quantity)}
		for k, v := range providers.NonEmpty("sku", string(d.ProductCode), "name", string(d.ProductName),
			"category", string(d.CategoryName), "color", string(d.Color), "size", string(d.Size)) {
			item[k] = v
		}
		if item["sku"] == nil && d.ProductID != "" {
			item["sku"] = string(d.ProductID)
		}
		items = append(items, item)
	}
	data := map[string]any{"order_id": string(t.TransactionHeadID), "total": amount(t.Total), "currency": Currency, "items": items}
	var codes []any
	for _, c := range t.Coupons {
		if c.SerialNumber != "" {
			codes = append(codes, string(c.SerialNumber))
		}
	}
	if len(codes) > 0 {
		data["coupon_codes"] = codes
	}
	return providers.InboundEvent{
		ID:      "transaction:" + p.client.cfg.ContractID + ":" + string(t.TransactionHeadID),
		Type:    "purchase",
		Time:    providers.TimeOr(string(t.TerminalTranDateTime), providers.TimeOr(string(t.TransactionDateTime), time.Time{})),
		Channel: "pos",
		StoreID: string(t.StoreID),
		Record:  record,
		Data:    data,
	}, true
}

// amount reads a number the API sends as text ("3200", "3200.0") as whole units. Text that is
// no number stays text, so the engine refuses the event naming the field.
func amount(v Text) any {
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return string(v)
	}
	return int64(math.Round(f))
}
