package shopifytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Each mutation of a document costs 10 points, so a document of aliased mutations costs
// their sum, and one of more than 100 is over the 1,000-point limit of a query.
func TestAliasedMutationsAddUp(t *testing.T) {
	t.Parallel()
	s := New()
	defer s.Close()
	id := s.AddCustomer("hana@example.jp")
	post := func(n int) (cost float64, code string) {
		var b strings.Builder
		b.WriteString("mutation TagsSync {")
		for i := range n {
			fmt.Fprintf(&b, " c%d: tagsAdd(id: %q, tags: [\"x\"]) { userErrors { message } }", i, id)
		}
		b.WriteString(" }")
		body, _ := json.Marshal(map[string]string{"query": b.String()})
		req, _ := http.NewRequest(http.MethodPost, s.URL+Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Shopify-Access-Token", s.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Errors []struct {
				Extensions struct{ Code string } `json:"extensions"`
			} `json:"errors"`
			Extensions struct {
				Cost struct{ RequestedQueryCost float64 } `json:"cost"`
			} `json:"extensions"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		if len(out.Errors) > 0 {
			code = out.Errors[0].Extensions.Code
		}
		return out.Extensions.Cost.RequestedQueryCost, code
	}
	if cost, code := post(50); cost != 500 || code != "" {
		t.Fatalf("50 mutations: cost %v, error %q; want 500 and none", cost, code)
	}
	if _, code := post(101); code != "MAX_COST_EXCEEDED" {
		t.Fatalf("101 mutations: error %q, want MAX_COST_EXCEEDED", code)
	}
}
