package smaregi

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
)

// Customer is a Smaregi POS member (会員), with the fields an identity source reads. The
// identifier-bearing fields are CustomerCode (the member card's code, unique per contract),
// CustomerID (Smaregi's own ID), PhoneNumber / MobileNumber and MailAddress (1 to 3): an
// identity_source names them in its identifiers map, e.g.
//
//	identifiers = { member = "customerCode", phone = "mobileNumber", email = "mailAddress" }
type Customer struct {
	CustomerID   Text `json:"customerId"`
	CustomerCode Text `json:"customerCode"`
	CustomerNo   Text `json:"customerNo"`
	Rank         Text `json:"rank"`
	LastName     Text `json:"lastName"`
	FirstName    Text `json:"firstName"`
	LastKana     Text `json:"lastKana"`
	FirstKana    Text `json:"firstKana"`
	PhoneNumber  Text `json:"phoneNumber"`
	MobileNumber Text `json:"mobileNumber"`
	MailAddress  Text `json:"mailAddress"`
	MailAddress2 Text `json:"mailAddress2"`
	MailAddress3 Text `json:"mailAddress3"`
	// MailReceiveFlag is 1 when the member accepts mail, 0 when not.
	MailReceiveFlag Text `json:"mailReceiveFlag"`
	// Status is 0 usable, 1 suspended, 2 lost, 3 withdrawn, 4 merged into another member.
	Status      Text `json:"status"`
	StoreID     Text `json:"storeId"`
	InsDateTime Text `json:"insDateTime"`
	UpdDateTime Text `json:"updDateTime"`
}

// Record returns the member's fields by their API names, empty ones left out: the form an
// identity source's identifiers map reads (providers.InboundEvent.Record).
func (c Customer) Record() map[string]any {
	out := make(map[string]any, 12)
	for k, v := range map[string]Text{
		"customerId": c.CustomerID, "customerCode": c.CustomerCode, "customerNo": c.CustomerNo, "rank": c.Rank,
		"lastName": c.LastName, "firstName": c.FirstName, "phoneNumber": c.PhoneNumber, "mobileNumber": c.MobileNumber,
		"mailAddress": c.MailAddress, "mailAddress2": c.MailAddress2, "mailAddress3": c.MailAddress3,
		"mailReceiveFlag": c.MailReceiveFlag, "status": c.Status, "storeId": c.StoreID,
	} {
		if v != "" {
			out[k] = string(v)
		}
	}
	return out
}

// Text is a string field that the API may also send as a number or null.
type Text string

// UnmarshalJSON accepts a string, a number or null.
func (t *Text) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*t = Text(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*t = Text(n.String())
	return nil
}

// CustomerQuery selects members to list.
type CustomerQuery struct {
	Page  int // from 1; 0 means 1
	Limit int // 1 to MaxPageSize; 0 means MaxPageSize
	// CustomerCode finds the member with this code.
	CustomerCode string
}

// ListCustomers returns one page of members (GET /pos/customers).
func (c *Client) ListCustomers(ctx context.Context, q CustomerQuery) ([]Customer, error) {
	v, err := pageQuery(q.Page, q.Limit)
	if err != nil {
		return nil, err
	}
	if q.CustomerCode != "" {
		v.Set("customer_code", q.CustomerCode)
	}
	var out []Customer
	return out, c.call(ctx, http.MethodGet, "/customers", v, nil, &out)
}

// Customers iterates over every member, a page at a time (pageSize 0 means MaxPageSize).
// The iteration stops at the first error, which it yields.
func (c *Client) Customers(ctx context.Context, pageSize int) iter.Seq2[Customer, error] {
	return func(yield func(Customer, error) bool) {
		for page := 1; ; page++ {
			cs, err := c.ListCustomers(ctx, CustomerQuery{Page: page, Limit: pageSize})
			if err != nil {
				yield(Customer{}, err)
				return
			}
			for _, cu := range cs {
				if !yield(cu, nil) {
					return
				}
			}
			if pageSize == 0 {
				pageSize = MaxPageSize
			}
			if len(cs) < pageSize {
				return
			}
		}
	}
}
