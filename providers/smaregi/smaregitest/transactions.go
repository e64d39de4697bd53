package smaregitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Transaction is a stored transaction (取引): the head's fields as the API has them, with
// its lines (details) and the coupons used, which GET /pos/transactions/{id} adds on
// with_details=all and with_coupons=all. Amounts are strings of whole yen, as the API sends them.
type Transaction struct {
	TransactionHeadID string `json:"transactionHeadId"`
	// TransactionDateTime is when the server received it; TerminalTranDateTime when the
	// register rang it up.
	TransactionDateTime string `json:"transactionDateTime"`
	// TransactionHeadDivision is 1 for a sale (通常); 2 to 16 are cash movements, point and
	// mile changes, layaways and receipts.
	TransactionHeadDivision string `json:"transactionHeadDivision"`
	// CancelDivision is 1 once the transaction was cancelled (取消).
	CancelDivision string `json:"cancelDivision"`
	// ReturnSales is 1 for a return (返品販売).
	ReturnSales          string              `json:"returnSales"`
	Subtotal             string              `json:"subtotal"`
	CouponDiscount       string              `json:"couponDiscount,omitempty"`
	Total                string              `json:"total"`
	StoreID              string              `json:"storeId"`
	TerminalID           string              `json:"terminalId"`
	CustomerID           string              `json:"customerId,omitempty"`
	CustomerCode         string              `json:"customerCode,omitempty"`
	TerminalTranID       string              `json:"terminalTranId"`
	TerminalTranDateTime string              `json:"terminalTranDateTime"`
	UpdDateTime          string              `json:"updDateTime"`
	Details              []TransactionDetail `json:"details,omitempty"`
	Coupons              []TransactionCoupon `json:"coupons,omitempty"`
}

// TransactionDetail is one line of a transaction.
type TransactionDetail struct {
	TransactionHeadID         string `json:"transactionHeadId"`
	TransactionDetailID       string `json:"transactionDetailId"`
	TransactionDetailDivision string `json:"transactionDetailDivision"` // 1 sale, 2 return, 3 department sale
	ProductID                 string `json:"productId"`
	ProductCode               string `json:"productCode,omitempty"`
	ProductName               string `json:"productName"`
	CategoryID                string `json:"categoryId,omitempty"`
	CategoryName              string `json:"categoryName,omitempty"`
	Color                     string `json:"color,omitempty"`
	Size                      string `json:"size,omitempty"`
	Price                     string `json:"price"`
	SalesPrice                string `json:"salesPrice"`
	Quantity                  string `json:"quantity"`
}

// TransactionCoupon is a coupon used in a transaction.
type TransactionCoupon struct {
	TransactionCouponID string `json:"transactionCouponId"`
	CouponID            string `json:"couponId"`
	CouponName          string `json:"couponName,omitempty"`
	SerialNumber        string `json:"serialNumber,omitempty"`
	DiscountPrice       string `json:"discountPrice,omitempty"`
}

// The period filters of GET /pos/transactions: the API wants at least one, and a period of
// at most 31 days.
var periods = []string{"transaction_date_time", "terminal_tran_date_time", "upd_date_time"}

// maxPeriod is the longest period a list call may ask for.
const maxPeriod = 31 * 24 * time.Hour

// sortable are the fields a list may be sorted by.
var sortable = []string{"transactionHeadId", "transactionDateTime", "transactionHeadDivision", "storeId", "terminalId",
	"customerId", "terminalTranId", "terminalTranDateTime", "sumDate", "updDateTime"}

const stampLayout = "2006-01-02T15:04:05-07:00"

// listTransactions answers GET /pos/transactions: heads only, filtered by the periods,
// transaction_head_id-from/-to, customer_code and store_id, sorted, a page at a time.
func (s *Server) listTransactions(w http.ResponseWriter, r *http.Request) {
	limit, page, ok := paging(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var params []InvalidParam
	bad := func(name, reason string) { params = append(params, InvalidParam{name, reason}) }
	type span struct{ from, to time.Time }
	spans := map[string]span{}
	for _, p := range periods {
		var sp span
		for _, end := range []string{"from", "to"} {
			v := q.Get(p + "-" + end)
			if v == "" {
				continue
			}
			t, err := time.Parse(stampLayout, v)
			if err != nil {
				bad(p+"-"+end, "must be a date and time [YYYY-MM-DDThh:mm:ssTZD]")
				continue
			}
			if end == "from" {
				sp.from = t
			} else {
				sp.to = t
			}
		}
		if !sp.from.IsZero() || !sp.to.IsZero() {
			spans[p] = sp
		}
		if !sp.from.IsZero() && !sp.to.IsZero() && sp.to.Sub(sp.from) > maxPeriod {
			bad(p+"-to", "the period from "+p+"-from must be at most 31 days")
		}
	}
	if len(spans) == 0 && len(params) == 0 {
		bad("upd_date_time-from", "give at least one period: transaction_date_time, terminal_tran_date_time or upd_date_time")
	}
	idFrom, idTo := int64(0), int64(1<<62)
	for _, end := range []string{"from", "to"} {
		if v := q.Get("transaction_head_id-" + end); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				bad("transaction_head_id-"+end, "must be a transaction ID")
			} else if end == "from" {
				idFrom = n
			} else {
				idTo = n
			}
		}
	}
	sortBy, desc := "transactionHeadId", false
	if v := q.Get("sort"); v != "" {
		// Only the first key orders the result here; the others are checked.
		for i, key := range strings.Split(v, ",") {
			name, dir, _ := strings.Cut(key, ":")
			if !slices.Contains(sortable, name) || (dir != "" && dir != "asc" && dir != "desc") {
				bad("sort", fmt.Sprintf("%q is not a field to sort by", key))
			} else if i == 0 {
				sortBy, desc = name, dir == "desc"
			}
		}
	}
	if len(params) > 0 {
		slices.SortFunc(params, byName)
		problem(w, http.StatusBadRequest, "Bad Request", "入力内容に誤りがあります", params...)
		return
	}
	s.mu.Lock()
	var list []Transaction
	for _, t := range s.transactions {
		id, _ := strconv.ParseInt(t.TransactionHeadID, 10, 64)
		if id < idFrom || id > idTo || (q.Has("customer_code") && t.CustomerCode != q.Get("customer_code")) ||
			(q.Has("store_id") && t.StoreID != q.Get("store_id")) {
			continue
		}
		in := true
		for p, sp := range spans {
			at, _ := time.Parse(stampLayout, map[string]string{"transaction_date_time": t.TransactionDateTime,
				"terminal_tran_date_time": t.TerminalTranDateTime, "upd_date_time": t.UpdDateTime}[p])
			in = in && !(!sp.from.IsZero() && at.Before(sp.from)) && !(!sp.to.IsZero() && at.After(sp.to))
		}
		if in {
			head := *t
			head.Details, head.Coupons = nil, nil
			list = append(list, head)
		}
	}
	s.mu.Unlock()
	slices.SortStableFunc(list, func(a, b Transaction) int {
		c := compareField(a, b, sortBy)
		if desc {
			return -c
		}
		return c
	})
	writeJSON(w, pageOf(list, limit, page))
}

// compareField orders two transactions by a sortable field: IDs as numbers, the rest as text
// (the times are all in the contract's zone, so text order is time order).
func compareField(a, b Transaction, field string) int {
	get := func(t Transaction) string {
		switch field {
		case "transactionHeadId":
			return fmt.Sprintf("%020s", t.TransactionHeadID)
		case "transactionDateTime":
			return t.TransactionDateTime
		case "terminalTranDateTime":
			return t.TerminalTranDateTime
		case "updDateTime":
			return t.UpdDateTime
		case "storeId":
			return fmt.Sprintf("%020s", t.StoreID)
		case "customerId":
			return fmt.Sprintf("%020s", t.CustomerID)
		}
		return fmt.Sprintf("%020s", t.TransactionHeadID)
	}
	return strings.Compare(get(a), get(b))
}

// getTransaction answers GET /pos/transactions/{id}; with_details=all adds the lines and
// with_coupons=all the coupons used.
func (s *Server) getTransaction(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for _, p := range []string{"with_details", "with_coupons"} {
		if v := q.Get(p); v != "" && !slices.Contains([]string{"all", "summary", "none"}, v) || p == "with_coupons" && v == "summary" {
			problem(w, http.StatusBadRequest, "Bad Request", "入力内容に誤りがあります", InvalidParam{p, "must be all or none"})
			return
		}
	}
	s.mu.Lock()
	t, ok := s.transaction(r.PathValue("id"))
	s.mu.Unlock()
	if !ok {
		problem(w, http.StatusNotFound, "Not Found", "指定された取引IDのリソースが見つかりません。")
		return
	}
	if q.Get("with_details") == "" || q.Get("with_details") == "none" {
		t.Details = nil
	}
	if q.Get("with_coupons") != "all" {
		t.Coupons = nil
	}
	writeJSON(w, t)
}

// stored returns a stored transaction, nil when there is none, with s.mu held.
func (s *Server) stored(id string) *Transaction {
	for _, t := range s.transactions {
		if t.TransactionHeadID == id {
			return t
		}
	}
	return nil
}

// transaction returns a copy of a stored transaction, with s.mu held.
func (s *Server) transaction(id string) (Transaction, bool) {
	t := s.stored(id)
	if t == nil {
		return Transaction{}, false
	}
	cp := *t
	cp.Details, cp.Coupons = slices.Clone(t.Details), slices.Clone(t.Coupons)
	return cp, true
}

// Sale is what a register rings up, for AddSale.
type Sale struct {
	StoreID, CustomerCode string
	// Lines are the products sold; the total is their sum, less the coupons' discounts.
	Lines []TransactionDetail
	// Coupons are the serial numbers of the contract's coupons used, each taking its
	// awardValue off (a percentage of the lines, or yen).
	Coupons []string
	// At is when the register rang it up (default: the server's now).
	At time.Time
}

// AddSale stores a sale as a register sends it: a transaction of division 1 with the next
// ID, the member's ID found by the code, the total computed from the lines and coupons, and
// the server's time as its transactionDateTime and updDateTime. It then notifies the webhook,
// when one is set, and returns the transaction and the webhook's answer (0 when none is set).
func (s *Server) AddSale(sale Sale) (Transaction, int, error) {
	coupons := make([]Coupon, len(sale.Coupons))
	for i, serial := range sale.Coupons {
		c, ok := s.Find(serial)
		if !ok {
			return Transaction{}, 0, fmt.Errorf("no coupon with serial number %s", serial)
		}
		coupons[i] = c
	}
	s.mu.Lock()
	s.nextTxID++
	id := strconv.Itoa(s.nextTxID)
	now := s.stamp()
	at := now
	if !sale.At.IsZero() {
		at = sale.At.In(s.opts.Zone).Format(stampLayout)
	}
	t := &Transaction{TransactionHeadID: id, TransactionDateTime: now, TransactionHeadDivision: "1", CancelDivision: "0",
		ReturnSales: "0", StoreID: sale.StoreID, TerminalID: "1", CustomerCode: sale.CustomerCode, TerminalTranID: id,
		TerminalTranDateTime: at, UpdDateTime: now}
	if t.StoreID == "" {
		t.StoreID = "1"
	}
	var subtotal int64
	for i, l := range sale.Lines {
		l.TransactionHeadID, l.TransactionDetailID = id, strconv.Itoa(i+1)
		if l.TransactionDetailDivision == "" {
			l.TransactionDetailDivision = "1"
		}
		if l.SalesPrice == "" {
			l.SalesPrice = l.Price
		}
		if l.Quantity == "" {
			l.Quantity = "1"
		}
		price, err1 := strconv.ParseInt(l.SalesPrice, 10, 64)
		qty, err2 := strconv.ParseInt(l.Quantity, 10, 64)
		if err1 != nil || err2 != nil {
			s.mu.Unlock()
			return Transaction{}, 0, fmt.Errorf("line %d: price and quantity must be whole numbers", i+1)
		}
		subtotal += price * qty
		t.Details = append(t.Details, l)
	}
	var discount int64
	for i, c := range coupons {
		off, _ := strconv.ParseFloat(c.AwardValue, 64)
		d := int64(off)
		if c.AwardType == "2" {
			d = int64(float64(subtotal) * off / 100)
		}
		discount += d
		t.Coupons = append(t.Coupons, TransactionCoupon{TransactionCouponID: strconv.Itoa(i + 1), CouponID: c.CouponID,
			CouponName: c.CouponName, SerialNumber: c.SerialNumber, DiscountPrice: strconv.FormatInt(d, 10)})
	}
	t.Subtotal, t.CouponDiscount, t.Total = strconv.FormatInt(subtotal, 10), strconv.FormatInt(discount, 10), strconv.FormatInt(max(subtotal-discount, 0), 10)
	if sale.CustomerCode != "" {
		for _, c := range s.customers {
			if c["customerCode"] == sale.CustomerCode {
				t.CustomerID = fmt.Sprint(c["customerId"])
			}
		}
	}
	s.transactions = append(s.transactions, t)
	out, _ := s.transaction(id)
	s.mu.Unlock()
	status, err := s.notify("created", id)
	return out, status, err
}

// EditTransaction changes a transaction behind the API, as the admin or a register would (a
// member set afterwards, a cancellation): edit runs on it, its updDateTime becomes now, and
// the webhook, when set, is told (action edited).
func (s *Server) EditTransaction(id string, edit func(*Transaction)) (int, error) {
	s.mu.Lock()
	found := s.stored(id)
	if found == nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("no transaction %s", id)
	}
	edit(found)
	found.UpdDateTime = s.stamp()
	s.mu.Unlock()
	return s.notify("edited", id)
}

// Transactions returns the stored transactions, by ID.
func (s *Server) Transactions() []Transaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Transaction, 0, len(s.transactions))
	for _, t := range s.transactions {
		cp, _ := s.transaction(t.TransactionHeadID)
		out = append(out, cp)
	}
	return out
}

// WebhookDeadline is how long Smaregi waits for a webhook's answer: its receiver must answer
// 200 within 3 seconds.
const WebhookDeadline = 3 * time.Second

// SetWebhook makes the server notify url of its transactions as Smaregi's webhooks do
// (event pos:transactions), sending header with every call: the custom headers an app sets in
// Smaregi Developers, such as a shared secret. An empty url stops the notifications.
func (s *Server) SetWebhook(url string, header http.Header) {
	s.mu.Lock()
	s.webhookURL, s.webhookHeader = url, header.Clone()
	s.mu.Unlock()
}

// notify posts a pos:transactions notification naming id, as Smaregi does: headers
// Smaregi-Contract-Id, Smaregi-Event and Smaregi-Event-Id, and a body naming the
// transactions, not holding them. It returns the receiver's status (0 when no webhook is
// set); an answer later than WebhookDeadline is an error, as Smaregi counts it failed.
func (s *Server) notify(action, id string) (int, error) {
	s.mu.Lock()
	url, header := s.webhookURL, s.webhookHeader.Clone()
	s.mu.Unlock()
	if url == "" {
		return 0, nil
	}
	body, _ := json.Marshal(map[string]any{"contractId": s.opts.ContractID, "event": "pos:transactions", "action": action,
		"transactionHeadIds": []string{id}})
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Smaregi-Platform-Api-Webhook/1.0 (smaregitest)")
	req.Header.Set("Smaregi-Contract-Id", s.opts.ContractID)
	req.Header.Set("Smaregi-Event", "pos:transactions")
	req.Header.Set("Smaregi-Event-Id", randomHex(16))
	resp, err := (&http.Client{Timeout: WebhookDeadline}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("the webhook to %s failed: %w", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
