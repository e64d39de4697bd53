package smaregi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
	"github.com/musubi-hq/musubi/providers/smaregi/smaregitest"
)

// salesFixture is a provider against a contract server with two members and a 10% coupon.
func salesFixture(t *testing.T, opts smaregitest.Options, config map[string]any) *fixture {
	t.Helper()
	f := newFixture(t, opts, config)
	f.srv.AddCustomers(smaregitest.Customer{"customerId": "1", "customerCode": "M0001"}, smaregitest.Customer{"customerId": "2", "customerCode": "M0002"})
	if _, err := f.srv.AddCoupon(smaregitest.Coupon{SerialNumber: "SPRING", CouponName: "Spring", AwardType: "2", AwardValue: "10", ApplyConditionDivision: "0"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// startSales is a sales fixture polled once, a second before the test's sales: the cursor
// to poll them from.
func startSales(t *testing.T, config map[string]any) (*fixture, string) {
	t.Helper()
	f := salesFixture(t, quiet, config)
	cursor := f.poll(t, "").Cursor
	f.clock.Advance(time.Second)
	return f, cursor
}

func (f *fixture) sell(t *testing.T, member string, coupons ...string) smaregitest.Transaction {
	t.Helper()
	tx, _, err := f.srv.AddSale(smaregitest.Sale{StoreID: "3", CustomerCode: member, Coupons: coupons, Lines: []smaregitest.TransactionDetail{
		{ProductID: "101", ProductCode: "SOCK-01", ProductName: "Running socks", CategoryName: "socks", Size: "M", Price: "1200", Quantity: "2"},
		{ProductID: "102", ProductName: "Bag", Price: "800"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// poll polls from cursor and fails the test on an error.
func (f *fixture) poll(t *testing.T, cursor string) providers.PollResult {
	t.Helper()
	r, err := f.p.PollEvents(ctx, cursor)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// drain polls from cursor as the engine does while more is waiting, and returns the events
// and how many polls it took. No poll may bring more than maxReadsPerPoll events.
func (f *fixture) drain(t *testing.T, cursor string) ([]providers.InboundEvent, int) {
	t.Helper()
	var evs []providers.InboundEvent
	polls := 0
	for more := true; more; polls++ {
		r := f.poll(t, cursor)
		if len(r.Events) > maxReadsPerPoll {
			t.Fatalf("a poll of %d events", len(r.Events))
		}
		evs = append(evs, r.Events...)
		cursor, more = r.Cursor, r.More
	}
	return evs, polls
}

func ids(evs []providers.InboundEvent) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

// A sale to a member becomes one purchase with the member's code, the store, the total in
// yen, the lines and the coupons used; a sale to nobody becomes none.
func TestPollTurnsSalesToMembersIntoPurchases(t *testing.T) {
	t.Parallel()
	f := salesFixture(t, quiet, nil)
	first := f.poll(t, "")
	if len(first.Events) != 0 || first.More || first.Cursor == "" {
		t.Fatalf("the first poll: %+v", first)
	}
	f.clock.Advance(10 * time.Second)
	tx := f.sell(t, "M0001", "SPRING")
	f.sell(t, "") // anonymous
	f.clock.Advance(time.Minute)
	r := f.poll(t, first.Cursor)
	if len(r.Events) != 1 || r.More {
		t.Fatalf("events %+v, more %v; want the member's sale", r.Events, r.More)
	}
	want := providers.InboundEvent{
		ID: "transaction:" + f.srv.ContractID() + ":" + tx.TransactionHeadID, Type: "purchase", Channel: "pos", StoreID: "3",
		Time:   providers.TimeOr(tx.TerminalTranDateTime, time.Time{}),
		Record: map[string]any{"customerCode": "M0001", "customerId": "1"},
		Data: map[string]any{"order_id": tx.TransactionHeadID, "total": int64(2880), "currency": "JPY", "coupon_codes": []any{"SPRING"},
			"items": []any{
				map[string]any{"sku": "SOCK-01", "name": "Running socks", "category": "socks", "size": "M", "price": int64(1200), "quantity": int64(2)},
				map[string]any{"sku": "102", "name": "Bag", "price": int64(800), "quantity": int64(1)},
			}},
	}
	if got := r.Events[0]; !reflect.DeepEqual(got, want) {
		t.Fatalf("purchase\n got %+v\nwant %+v", got, want)
	}
	if want.Time.IsZero() {
		t.Fatal("the sale has no time")
	}
	// The next polls overlap the last period, and read no sale twice.
	reads := f.srv.Calls("transaction")
	for range 3 {
		f.clock.Advance(30 * time.Second)
		r = f.poll(t, r.Cursor)
		if len(r.Events) != 0 {
			t.Fatalf("a sale read again: %v", ids(r.Events))
		}
	}
	if n := f.srv.Calls("transaction"); n != reads {
		t.Fatalf("%d reads of single sales after the first poll that found it, want none", n-reads)
	}
}

// The cursor is all the state: a provider started afresh (an engine restarted) resumes from
// it, and polling an older cursor again (a crash before it was stored) reads the same sales
// under the same IDs, which the engine drops as repeats.
func TestPollResumesFromTheCursor(t *testing.T) {
	t.Parallel()
	f, start := startSales(t, nil)
	f.sell(t, "M0001")
	f.clock.Advance(time.Second)
	r1 := f.poll(t, start)
	f.clock.Advance(time.Second)
	f.sell(t, "M0002")
	f.clock.Advance(time.Second)

	fresh := &Provider{now: f.clock.Now, sleep: f.clock.Sleep, httpClient: f.srv.Client()}
	cfg := map[string]any{"contract_id": f.srv.ContractID(), "client_id": f.srv.ClientID(), "client_secret": f.srv.ClientSecret(),
		"api_url": f.srv.URL, "id_url": f.srv.URL}
	if ds := fresh.Configure(ctx, providers.ConfigureRequest{Name: "smaregi.store", Config: cfg}).Diagnostics; ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	r2, err := fresh.PollEvents(ctx, r1.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.Events) != 1 || len(r2.Events) != 1 || r1.Events[0].Record["customerCode"] != "M0001" || r2.Events[0].Record["customerCode"] != "M0002" {
		t.Fatalf("polls: %v then %v", r1.Events, r2.Events)
	}
	again := f.poll(t, start)
	if got := ids(again.Events); !reflect.DeepEqual(got, append(ids(r1.Events), ids(r2.Events)...)) {
		t.Fatalf("polling the first cursor again: %v", got)
	}
}

// A poll reads a bounded batch: sales in pages of 1,000 heads and at most 200 sales read with
// their lines. When more is waiting it says so, and the next poll goes on after the last sale
// read, so every sale arrives once.
func TestPollPagesThroughABacklog(t *testing.T) {
	t.Parallel()
	f, cursor := startSales(t, nil)
	for range 1001 {
		f.sell(t, "") // the heads of a busy day, none to a member
	}
	for i := range 450 {
		f.sell(t, fmt.Sprintf("M000%d", 1+i%2))
	}
	f.clock.Advance(time.Second)
	evs, polls := f.drain(t, cursor)
	seen := map[string]bool{}
	for _, e := range evs {
		if seen[e.ID] {
			t.Fatalf("%s twice", e.ID)
		}
		seen[e.ID] = true
	}
	if len(seen) != 450 {
		t.Fatalf("%d purchases, want 450", len(seen))
	}
	// 1,451 heads: a full page (the 1,001 anonymous ones come first), then 200, 200 and 50
	// of the members'; a page that ends early is the last.
	if polls != 4 {
		t.Fatalf("%d polls, want 4", polls)
	}
}

// A member set on a sale afterwards (取引会員更新) makes it a purchase then; a cancelled sale
// is none, and cancelling one already read takes nothing back.
func TestPollEditedSales(t *testing.T) {
	t.Parallel()
	f, cursor := startSales(t, nil)
	later := f.sell(t, "")
	cancelled := f.sell(t, "M0001")
	kept := f.sell(t, "M0002")
	set := func(id string, edit func(*smaregitest.Transaction)) {
		if _, err := f.srv.EditTransaction(id, edit); err != nil {
			t.Fatal(err)
		}
	}
	set(cancelled.TransactionHeadID, func(t *smaregitest.Transaction) { t.CancelDivision = "1" })
	f.clock.Advance(time.Second)
	r := f.poll(t, cursor)
	if len(r.Events) != 1 || r.Events[0].Data["order_id"] != kept.TransactionHeadID {
		t.Fatalf("events %v, want the sale that stands", ids(r.Events))
	}
	f.clock.Advance(10 * time.Minute)
	set(later.TransactionHeadID, func(t *smaregitest.Transaction) { t.CustomerCode, t.CustomerID = "M0001", "1" })
	set(kept.TransactionHeadID, func(t *smaregitest.Transaction) { t.CancelDivision = "1" })
	f.clock.Advance(time.Second)
	r = f.poll(t, r.Cursor)
	if len(r.Events) != 1 || r.Events[0].Data["order_id"] != later.TransactionHeadID || r.Events[0].Record["customerCode"] != "M0001" {
		t.Fatalf("events %v, want the sale given a member", ids(r.Events))
	}
}

// Throttled calls (429) wait out Retry-After and go on; a system that keeps failing makes the
// poll fail, and the caller keeps its cursor.
func TestPollBacksOff(t *testing.T) {
	t.Parallel()
	f, cursor := startSales(t, nil)
	f.sell(t, "M0001")
	f.clock.Advance(time.Second)
	if err := f.srv.Inject("transactions", faultOf(429, 2, 3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Inject("transaction", faultOf(429, 1, 2*time.Second)); err != nil {
		t.Fatal(err)
	}
	slept := f.clock.slept
	r := f.poll(t, cursor)
	if len(r.Events) != 1 {
		t.Fatalf("after the 429s: %v", ids(r.Events))
	}
	if waited := f.clock.slept - slept; waited != 8*time.Second {
		t.Fatalf("waited %s, want the 3 s, 3 s and 2 s Smaregi asked for", waited)
	}
	if err := f.srv.Inject("transactions", faultOf(503, DefaultMaxAttempts, 0)); err != nil {
		t.Fatal(err)
	}
	_, err := f.p.PollEvents(ctx, r.Cursor)
	if providers.CodeOf(err) != providers.ErrUnavailable {
		t.Fatalf("polling a failing system: %v", err)
	}
}

// Catching up after a long stop, a poll asks for at most 31 days, as the API requires, and
// says more is waiting until it reaches now.
func TestPollCatchesUpAPeriodAtATime(t *testing.T) {
	t.Parallel()
	f, cursor := startSales(t, nil)
	f.sell(t, "M0001")
	f.clock.Advance(45 * 24 * time.Hour)
	f.sell(t, "M0002")
	f.clock.Advance(time.Second)
	evs, polls := f.drain(t, cursor)
	var got []string
	for _, e := range evs {
		got = append(got, e.Record["customerCode"].(string))
	}
	if !reflect.DeepEqual(got, []string{"M0001", "M0002"}) || polls != 2 {
		t.Fatalf("%d polls brought %v", polls, got)
	}
	for _, c := range f.srv.Received() {
		if c.Op != "transactions" {
			continue
		}
		u, _ := url.Parse(c.Path)
		from, _ := time.Parse(timeLayout, u.Query().Get("upd_date_time-from"))
		to, _ := time.Parse(timeLayout, u.Query().Get("upd_date_time-to"))
		if to.Sub(from) > MaxPeriod {
			t.Fatalf("a period of %s: %s", to.Sub(from), c.Path)
		}
	}
}

// A clock set back behind the last period read makes polls wait for it, not fail.
func TestPollWaitsForAClockSetBack(t *testing.T) {
	t.Parallel()
	f, cursor := startSales(t, nil)
	f.clock.Advance(time.Minute)
	cursor = f.poll(t, cursor).Cursor
	f.clock.Advance(-time.Hour)
	if r := f.poll(t, cursor); r.Cursor != cursor || len(r.Events) != 0 || r.More {
		t.Fatalf("with the clock an hour back: %+v", r)
	}
	f.clock.Advance(time.Hour + time.Minute)
	f.sell(t, "M0001")
	f.clock.Advance(time.Second)
	if r := f.poll(t, cursor); len(r.Events) != 1 {
		t.Fatalf("once the clock is back: %v", ids(r.Events))
	}
}

// The contract server refuses a list without a period, or with one longer than 31 days.
func TestTransactionListNeedsAPeriod(t *testing.T) {
	t.Parallel()
	f := salesFixture(t, quiet, nil)
	for _, q := range []url.Values{
		{},
		{"upd_date_time-from": {"2027-01-01T00:00:00+09:00"}, "upd_date_time-to": {"2027-03-01T00:00:00+09:00"}},
		{"upd_date_time-from": {"2027-01-01"}},
	} {
		err := f.p.client.call(ctx, http.MethodGet, "/transactions", q, nil, nil)
		if providers.CodeOf(err) != providers.ErrInvalid {
			t.Errorf("%v: %v, want invalid", q, err)
		}
	}
}

// Smaregi's webhook names the sales; with the custom header the app set in Smaregi
// Developers, the provider reads them and gives the same purchases a poll gives.
func TestWebhookReadsTheSalesItNames(t *testing.T) {
	t.Parallel()
	f := salesFixture(t, quiet, map[string]any{"webhook_secret": "s3cret"})
	var got []providers.WebhookResponse
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := make([]byte, r.ContentLength)
		r.Body.Read(body)
		resp := f.p.ReceiveWebhook(r.Context(), providers.WebhookRequest{URL: r.URL.String(), Header: r.Header, Body: body})
		got = append(got, resp)
		if resp.Diagnostics.HasErrors() {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(hook.Close)
	f.srv.SetWebhook(hook.URL, http.Header{DefaultWebhookHeader: {"s3cret"}})
	cursor := f.poll(t, "").Cursor
	f.clock.Advance(time.Second)
	tx, status, err := f.srv.AddSale(smaregitest.Sale{CustomerCode: "M0002", Lines: []smaregitest.TransactionDetail{{ProductID: "9", ProductName: "Tea", Price: "500"}}})
	if err != nil || status != http.StatusOK {
		t.Fatalf("the webhook: %d %v", status, err)
	}
	if len(got) != 1 || len(got[0].Events) != 1 || got[0].Events[0].Data["total"] != int64(500) {
		t.Fatalf("webhook answers %+v", got)
	}
	f.clock.Advance(time.Second)
	if r := f.poll(t, cursor); !reflect.DeepEqual(ids(r.Events), ids(got[0].Events)) {
		t.Fatalf("the poll reads %v, the webhook gave %v", ids(r.Events), ids(got[0].Events))
	}

	// A wrong secret is refused; so is any call while no secret is configured.
	f.srv.SetWebhook(hook.URL, http.Header{DefaultWebhookHeader: {"guess"}})
	if _, status, _ := f.srv.AddSale(smaregitest.Sale{CustomerCode: "M0001"}); status != http.StatusUnauthorized {
		t.Fatalf("a wrong secret: %d", status)
	}
	body, _ := json.Marshal(map[string]any{"contractId": f.srv.ContractID(), "event": "pos:transactions", "action": "created", "transactionHeadIds": []string{tx.TransactionHeadID}})
	bare := salesFixture(t, quiet, nil)
	r := bare.p.ReceiveWebhook(ctx, providers.WebhookRequest{Header: http.Header{DefaultWebhookHeader: {""}}, Body: body})
	if providers.CodeOf(r.Diagnostics.Err()) != providers.ErrAuth || !strings.Contains(r.Diagnostics.Err().Error(), "no webhook_secret") {
		t.Fatalf("without a secret: %v", r.Diagnostics.Err())
	}
	// Another contract's, or another event's, notification gives nothing.
	signed := http.Header{DefaultWebhookHeader: {"s3cret"}}
	for _, b := range []string{
		strings.Replace(string(body), f.srv.ContractID(), "other-contract", 1),
		strings.Replace(string(body), "pos:transactions", "pos:products", 1),
	} {
		if r := f.p.ReceiveWebhook(ctx, providers.WebhookRequest{Header: signed, Body: []byte(b)}); len(r.Events) != 0 || r.Diagnostics.HasErrors() {
			t.Fatalf("%s: %+v", b, r)
		}
	}
	if r := f.p.ReceiveWebhook(ctx, providers.WebhookRequest{Header: signed, Body: []byte("{")}); providers.CodeOf(r.Diagnostics.Err()) != providers.ErrInvalid {
		t.Fatalf("a body that is no notification: %v", r.Diagnostics.Err())
	}
}

func TestPollInterval(t *testing.T) {
	t.Parallel()
	if got := newFixture(t, quiet, nil).p.PollInterval(); got != DefaultPollInterval {
		t.Fatalf("default %s", got)
	}
	if got := newFixture(t, quiet, map[string]any{"poll_interval": "30s"}).p.PollInterval(); got != 30*time.Second {
		t.Fatalf("30s: %s", got)
	}
	for _, v := range []string{"0s", "500ms", "soon"} {
		p := &Provider{}
		r := p.Configure(ctx, providers.ConfigureRequest{Name: "smaregi.store", Config: map[string]any{
			"contract_id": "c", "client_id": "i", "client_secret": "s", "poll_interval": v}})
		if err := r.Diagnostics.Err(); err == nil || !strings.Contains(err.Error(), "at least 1s") {
			t.Errorf("poll_interval %q: %v", v, err)
		}
	}
}

func faultOf(status, times int, retryAfter time.Duration) contracttest.Fault {
	return contracttest.Fault{Status: status, Times: times, RetryAfter: retryAfter}
}

// Smaregi waits 3 seconds for a webhook's answer: a sale the API is slow to give is left to
// the next poll, and the answer says the call was not taken.
func TestWebhookAnswersWithinSmaregisDeadline(t *testing.T) {
	t.Parallel()
	f, _ := startSales(t, map[string]any{"webhook_secret": "s3cret"})
	tx := f.sell(t, "M0001")
	if err := f.srv.Inject("transaction", contracttest.Fault{Delay: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"contractId": f.srv.ContractID(), "event": "pos:transactions", "action": "created", "transactionHeadIds": []string{tx.TransactionHeadID}})
	start := time.Now()
	r := f.p.ReceiveWebhook(ctx, providers.WebhookRequest{Header: http.Header{DefaultWebhookHeader: {"s3cret"}}, Body: body})
	if took := time.Since(start); took >= smaregitest.WebhookDeadline || providers.CodeOf(r.Diagnostics.Err()) != providers.ErrUnavailable {
		t.Fatalf("after %s: %v", took, r.Diagnostics.Err())
	}
}
