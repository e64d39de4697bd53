package smaregi

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Transaction is a Smaregi POS transaction (取引), with the fields a sale's purchase event
// reads. The list call returns heads only; GetTransaction adds the lines and the coupons used.
type Transaction struct {
	TransactionHeadID Text `json:"transactionHeadId"`
	// TransactionDateTime is when Smaregi's server received it, TerminalTranDateTime when
	// the register rang it up, UpdDateTime when it was last registered or changed.
	TransactionDateTime  Text `json:"transactionDateTime"`
	TerminalTranDateTime Text `json:"terminalTranDateTime"`
	UpdDateTime          Text `json:"updDateTime"`
	// TransactionHeadDivision is 1 for a sale (通常); the others are cash movements, point
	// and mile changes, layaways and receipts.
	TransactionHeadDivision Text `json:"transactionHeadDivision"`
	// CancelDivision is 1 for a cancelled transaction, ReturnSales 1 for a return.
	CancelDivision Text                `json:"cancelDivision"`
	ReturnSales    Text                `json:"returnSales"`
	Total          Text                `json:"total"`
	StoreID        Text                `json:"storeId"`
	CustomerID     Text                `json:"customerId"`
	CustomerCode   Text                `json:"customerCode"`
	Details        []TransactionDetail `json:"details"`
	Coupons        []TransactionCoupon `json:"coupons"`
}

// TransactionDetail is one line of a transaction.
type TransactionDetail struct {
	TransactionDetailDivision Text `json:"transactionDetailDivision"` // 1 sale, 2 return, 3 department sale
	ProductID                 Text `json:"productId"`
	ProductCode               Text `json:"productCode"`
	ProductName               Text `json:"productName"`
	CategoryName              Text `json:"categoryName"`
	Color                     Text `json:"color"`
	Size                      Text `json:"size"`
	Price                     Text `json:"price"`
	SalesPrice                Text `json:"salesPrice"`
	Quantity                  Text `json:"quantity"`
}

// TransactionCoupon is a coupon used in a transaction.
type TransactionCoupon struct {
	CouponID      Text `json:"couponId"`
	SerialNumber  Text `json:"serialNumber"`
	DiscountPrice Text `json:"discountPrice"`
}

// IsSale reports whether the transaction is a sale that stands: division 1, neither
// cancelled nor a return.
func (t Transaction) IsSale() bool {
	return t.TransactionHeadDivision == "1" && t.CancelDivision != "1" && t.ReturnSales != "1"
}

// MaxPeriod is the longest period a transaction list may ask for (31 days).
const MaxPeriod = 31 * 24 * time.Hour

// TransactionQuery selects transactions to list. The API needs a period: UpdatedFrom and
// UpdatedTo (upd_date_time), at most MaxPeriod apart.
type TransactionQuery struct {
	UpdatedFrom, UpdatedTo time.Time
	// IDFrom, when set, lists transactions from this transactionHeadId on.
	IDFrom string
	// Sort is the API's sort parameter; default transactionHeadId (ascending).
	Sort  string
	Page  int // from 1; 0 means 1
	Limit int // 1 to MaxPageSize; 0 means MaxPageSize
}

// timeLayout is the API's [YYYY-MM-DDThh:mm:ssTZD].
const timeLayout = "2006-01-02T15:04:05-07:00"

// ListTransactions returns one page of transaction heads (GET /pos/transactions).
func (c *Client) ListTransactions(ctx context.Context, q TransactionQuery) ([]Transaction, error) {
	v, err := pageQuery(q.Page, q.Limit)
	if err != nil {
		return nil, err
	}
	if q.UpdatedFrom.IsZero() || q.UpdatedTo.IsZero() || q.UpdatedTo.Before(q.UpdatedFrom) || q.UpdatedTo.Sub(q.UpdatedFrom) > MaxPeriod {
		return nil, errors.New("a transaction list needs a period of at most 31 days")
	}
	v.Set("upd_date_time-from", q.UpdatedFrom.Format(timeLayout))
	v.Set("upd_date_time-to", q.UpdatedTo.Format(timeLayout))
	v.Set("sort", cmp.Or(q.Sort, "transactionHeadId"))
	if q.IDFrom != "" {
		v.Set("transaction_head_id-from", q.IDFrom)
	}
	var out []Transaction
	return out, c.call(ctx, http.MethodGet, "/transactions", v, nil, &out)
}

// GetTransaction reads one transaction with its lines and the coupons used
// (GET /pos/transactions/{id}?with_details=all&with_coupons=all).
func (c *Client) GetTransaction(ctx context.Context, id string) (*Transaction, error) {
	var out Transaction
	v := url.Values{"with_details": {"all"}, "with_coupons": {"all"}}
	if err := c.call(ctx, http.MethodGet, "/transactions/"+url.PathEscape(id), v, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
