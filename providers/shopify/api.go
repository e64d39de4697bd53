package shopify

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/musubi-hq/musubi/providers"
)

// The Admin GraphQL operations the provider uses (API version APIVersion), each a fixed
// document selecting exactly the fields the provider reads.

// Limits of the API.
const (
	// MaxBulkCodes is the most codes one discountRedeemCodeBulkAdd takes.
	MaxBulkCodes = 250
	// MaxNodes is the most IDs one nodes query takes.
	MaxNodes = 250
	// discountsPerNodes keeps a nodes query of discounts under the 1,000-point query cost
	// limit: each discount as selected below costs 14 points.
	discountsPerNodes = 60
	// MaxTagChanges is the most tagsAdd and tagsRemove mutations one TagsSync document
	// carries. Each takes one customer and costs 10 points, and a document may ask for at
	// most 1,000: 50 ask for half of that, which a Standard plan's bucket (2,000 points,
	// 100 restored a second) pays four times over, and a throttled document waits 5 s.
	MaxTagChanges = 50
	// mutationCost is what Shopify charges each mutation of a document.
	mutationCost = 10
)

// Shop holds what the provider reads of the shop: money and times are in its currency and
// time zone.
type Shop struct {
	CurrencyCode string `json:"currencyCode"`
	IanaTimezone string `json:"ianaTimezone"`
}

// Money is a MoneyV2.
type Money struct {
	Amount       string `json:"amount"`
	CurrencyCode string `json:"currencyCode"`
}

// Segment is a customer segment.
type Segment struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Query string `json:"query"`
}

// WebhookSubscription is one topic's subscription.
type WebhookSubscription struct {
	ID    string `json:"id"`
	Topic string `json:"topic"`
	URI   string `json:"uri"`
}

// Discount is a code discount node as codeNodeSelection and nodeSelection read it.
type Discount struct {
	ID           string `json:"id"`
	CodeDiscount struct {
		Typename               string  `json:"__typename"`
		Title                  string  `json:"title"`
		StartsAt               string  `json:"startsAt"`
		EndsAt                 *string `json:"endsAt"`
		UsageLimit             *int64  `json:"usageLimit"`
		AppliesOncePerCustomer bool    `json:"appliesOncePerCustomer"`
		CodesCount             *struct {
			Count int `json:"count"`
		} `json:"codesCount"`
		Codes struct {
			Nodes []struct {
				Code string `json:"code"`
			} `json:"nodes"`
		} `json:"codes"`
		CombinesWith CombinesWith `json:"combinesWith"`
		Context      struct {
			Typename string    `json:"__typename"`
			Segments []Segment `json:"segments"`
		} `json:"context"`
		CustomerGets struct {
			Value struct {
				Typename          string  `json:"__typename"`
				Percentage        float64 `json:"percentage"`
				Amount            *Money  `json:"amount"`
				AppliesOnEachItem bool    `json:"appliesOnEachItem"`
			} `json:"value"`
		} `json:"customerGets"`
		MinimumRequirement *struct {
			Typename                     string `json:"__typename"`
			GreaterThanOrEqualToSubtotal *Money `json:"greaterThanOrEqualToSubtotal"`
		} `json:"minimumRequirement"`
	} `json:"codeDiscount"`
}

// CombinesWith says which discount classes a discount stacks with.
type CombinesWith struct {
	OrderDiscounts    bool `json:"orderDiscounts"`
	ProductDiscounts  bool `json:"productDiscounts"`
	ShippingDiscounts bool `json:"shippingDiscounts"`
}

func (c CombinesWith) flag(field string) bool {
	switch field {
	case "orderDiscounts":
		return c.OrderDiscounts
	case "productDiscounts":
		return c.ProductDiscounts
	case "shippingDiscounts":
		return c.ShippingDiscounts
	}
	return false
}

// Code is the discount's first code: the one it was created with.
func (d *Discount) Code() string {
	if n := d.CodeDiscount.Codes.Nodes; len(n) > 0 {
		return n[0].Code
	}
	return ""
}

// CodesCount is how many codes the discount has.
func (d *Discount) CodesCount() int {
	if c := d.CodeDiscount.CodesCount; c != nil {
		return c.Count
	}
	return 0
}

// discountFields selects a code discount: the codeDiscount of a DiscountCodeNode and the
// discount of a DiscountNode alike.
const discountFields = `__typename
      ... on DiscountCodeBasic {
        title startsAt endsAt usageLimit appliesOncePerCustomer
        codesCount { count }
        codes(first: 1) { nodes { code } }
        combinesWith { orderDiscounts productDiscounts shippingDiscounts }
        context { __typename ... on DiscountCustomerSegments { segments { id name query } } }
        customerGets {
          value {
            __typename
            ... on DiscountPercentage { percentage }
            ... on DiscountAmount { amount { amount currencyCode } appliesOnEachItem }
          }
        }
        minimumRequirement {
          __typename
          ... on DiscountMinimumSubtotal { greaterThanOrEqualToSubtotal { amount currencyCode } }
        }
      }`

// codeNodeSelection selects a DiscountCodeNode, as mutations and codeDiscountNodeByCode
// return it.
const codeNodeSelection = `id codeDiscount { ` + discountFields + ` }`

// nodeSelection selects a DiscountNode (discountNode, discountNodes); its discount is
// aliased to codeDiscount, so both node types decode into Discount.
const nodeSelection = `id codeDiscount: discount { ` + discountFields + ` }`

const discountErrors = `userErrors { field code message }`

// operations lists every document the client sends; a test validates each against the
// published schema of the API version.
var operations []operation

func define(op operation) operation {
	operations = append(operations, op)
	return op
}

var (
	opShop = define(operation{name: "Shop", cost: 1,
		doc: `query Shop { shop { currencyCode ianaTimezone } }`})
	opDiscountByCode = define(operation{name: "CodeDiscountNodeByCode", cost: 14,
		doc: `query CodeDiscountNodeByCode($code: String!) { codeDiscountNodeByCode(code: $code) { ` + codeNodeSelection + ` } }`})
	opDiscount = define(operation{name: "DiscountNode", cost: 14,
		doc: `query DiscountNode($id: ID!) { discountNode(id: $id) { ` + nodeSelection + ` } }`})
	opSearchDiscounts = define(operation{name: "SearchDiscounts", cost: 2 + 5*14,
		doc: `query SearchDiscounts($query: String!) { discountNodes(first: 5, query: $query) { nodes { ` + nodeSelection + ` } } }`})
	opDiscountsByID = define(operation{name: "DiscountNodes",
		doc: `query DiscountNodes($ids: [ID!]!) { nodes(ids: $ids) { __typename ... on DiscountCodeNode { ` + codeNodeSelection + ` } } }`})
	opCreateDiscount = define(operation{name: "DiscountCodeBasicCreate", creates: true, cost: 10,
		doc: `mutation DiscountCodeBasicCreate($input: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $input) { codeDiscountNode { ` + codeNodeSelection + ` } ` + discountErrors + ` } }`})
	opUpdateDiscount = define(operation{name: "DiscountCodeBasicUpdate", cost: 10,
		doc: `mutation DiscountCodeBasicUpdate($id: ID!, $input: DiscountCodeBasicInput!) {
  discountCodeBasicUpdate(id: $id, basicCodeDiscount: $input) { codeDiscountNode { ` + codeNodeSelection + ` } ` + discountErrors + ` } }`})
	opDeleteDiscount = define(operation{name: "DiscountCodeDelete", cost: 10,
		doc: `mutation DiscountCodeDelete($id: ID!) { discountCodeDelete(id: $id) { deletedCodeDiscountId ` + discountErrors + ` } }`})
	opPoolState = define(operation{name: "DiscountPoolState", cost: 55,
		doc: `query DiscountPoolState($id: ID!, $namespace: String!) { discountNode(id: $id) {
  id
  codeDiscount: discount { __typename ... on DiscountCodeBasic { codesCount { count } } }
  metafields(namespace: $namespace, first: 50) { nodes { key value } }
} }`})
	opMetafieldOwner = define(operation{name: "MetafieldOwner", cost: 2 + 50*2 + 1,
		doc: `query MetafieldOwner($namespace: String!, $key: String!, $after: String) {
  discountNodes(first: 50, after: $after, query: "method:code") {
  nodes { id metafield(namespace: $namespace, key: $key) { key } } pageInfo { hasNextPage endCursor } } }`})
	opDiscountCodes = define(operation{name: "DiscountRedeemCodes", cost: 2 + 2 + MaxBulkCodes + 1,
		doc: `query DiscountRedeemCodes($id: ID!, $after: String) { discountNode(id: $id) {
  codeDiscount: discount { __typename ... on DiscountCodeBasic {
    codes(first: 250, after: $after) { nodes { id code } pageInfo { hasNextPage endCursor } }
  } }
} }`})
	opBulkAdd = define(operation{name: "DiscountRedeemCodeBulkAdd", creates: true, cost: 10,
		doc: `mutation DiscountRedeemCodeBulkAdd($discountId: ID!, $codes: [DiscountRedeemCodeInput!]!) {
  discountRedeemCodeBulkAdd(discountId: $discountId, codes: $codes) { bulkCreation { id done } ` + discountErrors + ` } }`})
	opBulkCreation = define(operation{name: "DiscountRedeemCodeBulkCreation", cost: 1,
		doc: `query DiscountRedeemCodeBulkCreation($id: ID!) { discountRedeemCodeBulkCreation(id: $id) {
  id done codesCount importedCount failedCount
} }`})
	opBulkFailures = define(operation{name: "DiscountRedeemCodeBulkFailures", cost: 3 + 2*MaxBulkCodes,
		doc: `query DiscountRedeemCodeBulkFailures($id: ID!) { discountRedeemCodeBulkCreation(id: $id) {
  id codes(first: 250) { nodes { code errors { field code message } } }
} }`})
	opBulkDelete = define(operation{name: "DiscountCodeRedeemCodeBulkDelete", cost: 10,
		doc: `mutation DiscountCodeRedeemCodeBulkDelete($discountId: ID!, $ids: [ID!]) {
  discountCodeRedeemCodeBulkDelete(discountId: $discountId, ids: $ids) { job { id done } ` + discountErrors + ` } }`})
	opJob = define(operation{name: "Job", cost: 1,
		doc: `query Job($id: ID!) { job(id: $id) { id done } }`})
	opMetafieldsSet = define(operation{name: "MetafieldsSet", creates: true, cost: 10,
		doc: `mutation MetafieldsSet($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) { metafields { key } userErrors { field code message } } }`})
	opMetafieldsDelete = define(operation{name: "MetafieldsDelete", cost: 10,
		doc: `mutation MetafieldsDelete($metafields: [MetafieldIdentifierInput!]!) {
  metafieldsDelete(metafields: $metafields) { deletedMetafields { key } userErrors { field message } } }`})
	opSegments = define(operation{name: "Segments", cost: 2 + 100 + 1,
		doc: `query Segments($after: String) { segments(first: 100, after: $after) {
  nodes { id name query } pageInfo { hasNextPage endCursor } } }`})
	opSegmentNodes = define(operation{name: "SegmentNodes",
		doc: `query SegmentNodes($ids: [ID!]!) { nodes(ids: $ids) { __typename ... on Segment { id name query } } }`})
	opCreateSegment = define(operation{name: "SegmentCreate", creates: true, cost: 10,
		doc: `mutation SegmentCreate($name: String!, $query: String!) {
  segmentCreate(name: $name, query: $query) { segment { id name query } userErrors { field message } } }`})
	opUpdateSegment = define(operation{name: "SegmentUpdate", cost: 10,
		doc: `mutation SegmentUpdate($id: ID!, $name: String!, $query: String!) {
  segmentUpdate(id: $id, name: $name, query: $query) { segment { id name query } userErrors { field message } } }`})
	opDeleteSegment = define(operation{name: "SegmentDelete", cost: 10,
		doc: `mutation SegmentDelete($id: ID!) { segmentDelete(id: $id) { deletedSegmentId userErrors { field message } } }`})
	opTagsAdd = define(operation{name: "TagsAdd", cost: 10,
		doc: `mutation TagsAdd($id: ID!, $tags: [String!]!) { tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } } }`})
	opTagsRemove = define(operation{name: "TagsRemove", cost: 10,
		doc: `mutation TagsRemove($id: ID!, $tags: [String!]!) { tagsRemove(id: $id, tags: $tags) { node { id } userErrors { field message } } }`})
	// opTagsSync is the shape of SyncTags' documents: the one checked here holds an add and
	// a remove; those sent hold one aliased mutation per change.
	opTagsSync = define(operation{name: "TagsSync", cost: 2 * mutationCost, doc: tagsSyncDoc([]bool{false, true})})
	opWebhooks = define(operation{name: "WebhookSubscriptions", cost: 2 + 100 + 1,
		doc: `query WebhookSubscriptions($after: String) { webhookSubscriptions(first: 100, after: $after) {
  nodes { id topic uri } pageInfo { hasNextPage endCursor } } }`})
	opCreateWebhook = define(operation{name: "WebhookSubscriptionCreate", creates: true, cost: 10,
		doc: `mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $subscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $subscription) { webhookSubscription { id topic uri } userErrors { field message } } }`})
	opUpdateWebhook = define(operation{name: "WebhookSubscriptionUpdate", cost: 10,
		doc: `mutation WebhookSubscriptionUpdate($id: ID!, $subscription: WebhookSubscriptionInput!) {
  webhookSubscriptionUpdate(id: $id, webhookSubscription: $subscription) { webhookSubscription { id topic uri } userErrors { field message } } }`})
	opDeleteWebhook = define(operation{name: "WebhookSubscriptionDelete", cost: 10,
		doc: `mutation WebhookSubscriptionDelete($id: ID!) { webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId userErrors { field message } } }`})
)

type pageInfo struct {
	HasNextPage bool   `json:"hasNextPage"`
	EndCursor   string `json:"endCursor"`
}

// Shop reads the shop's currency and time zone.
func (c *Client) Shop(ctx context.Context) (Shop, error) {
	var out struct{ Shop Shop }
	err := c.do(ctx, opShop, nil, &out)
	return out.Shop, err
}

// DiscountByCode returns the code discount holding a code, or nil. Shopify matches codes
// case-insensitively.
func (c *Client) DiscountByCode(ctx context.Context, code string) (*Discount, error) {
	var out struct {
		Node *Discount `json:"codeDiscountNodeByCode"`
	}
	err := c.do(ctx, opDiscountByCode, map[string]any{"code": code}, &out)
	return out.Node, err
}

// Discount returns a code discount by ID, or nil when it does not exist.
func (c *Client) Discount(ctx context.Context, id string) (*Discount, error) {
	var out struct {
		Node *Discount `json:"discountNode"`
	}
	err := c.do(ctx, opDiscount, map[string]any{"id": id}, &out)
	return out.Node, err
}

// SearchDiscounts returns up to five code discounts matching a search query; method:code
// leaves out automatic discounts, which discountNodes lists too.
func (c *Client) SearchDiscounts(ctx context.Context, query string) ([]*Discount, error) {
	var out struct {
		Nodes struct {
			Nodes []*Discount `json:"nodes"`
		} `json:"discountNodes"`
	}
	err := c.do(ctx, opSearchDiscounts, map[string]any{"query": "method:code " + query}, &out)
	return out.Nodes.Nodes, err
}

// Discounts reads code discounts by ID with nodes queries, as many per query as the cost
// limit allows. Missing IDs are absent from the map.
func (c *Client) Discounts(ctx context.Context, ids []string) (map[string]*Discount, error) {
	out := map[string]*Discount{}
	for chunk := range slices.Chunk(ids, discountsPerNodes) {
		var resp struct {
			Nodes []*struct {
				Typename string `json:"__typename"`
				Discount
			} `json:"nodes"`
		}
		op := opDiscountsByID
		op.cost = len(chunk) * 14
		if err := c.do(ctx, op, map[string]any{"ids": chunk}, &resp); err != nil {
			return nil, err
		}
		for _, n := range resp.Nodes {
			if n != nil && n.Typename == "DiscountCodeNode" {
				d := n.Discount
				out[d.ID] = &d
			}
		}
	}
	return out, nil
}

// CreateDiscount creates a basic code discount.
func (c *Client) CreateDiscount(ctx context.Context, input map[string]any) (*Discount, error) {
	var out struct {
		Payload struct {
			Node       *Discount   `json:"codeDiscountNode"`
			UserErrors []userError `json:"userErrors"`
		} `json:"discountCodeBasicCreate"`
	}
	if err := c.do(ctx, opCreateDiscount, map[string]any{"input": input}, &out); err != nil {
		return nil, err
	}
	if err := userErrors(opCreateDiscount.name, out.Payload.UserErrors); err != nil {
		return nil, err
	}
	return out.Payload.Node, nil
}

// UpdateDiscount changes a basic code discount; fields given as nil are cleared.
func (c *Client) UpdateDiscount(ctx context.Context, id string, input map[string]any) (*Discount, error) {
	var out struct {
		Payload struct {
			Node       *Discount   `json:"codeDiscountNode"`
			UserErrors []userError `json:"userErrors"`
		} `json:"discountCodeBasicUpdate"`
	}
	if err := c.do(ctx, opUpdateDiscount, map[string]any{"id": id, "input": input}, &out); err != nil {
		return nil, err
	}
	if err := userErrors(opUpdateDiscount.name, out.Payload.UserErrors); err != nil {
		return nil, err
	}
	return out.Payload.Node, nil
}

// DeleteDiscount deletes a code discount and its codes; one already gone is not an error.
func (c *Client) DeleteDiscount(ctx context.Context, id string) error {
	var out struct {
		Payload struct {
			UserErrors []userError `json:"userErrors"`
		} `json:"discountCodeDelete"`
	}
	if err := c.do(ctx, opDeleteDiscount, map[string]any{"id": id}, &out); err != nil {
		return err
	}
	return ignoreNotFound(userErrors(opDeleteDiscount.name, out.Payload.UserErrors))
}

func ignoreNotFound(err error) error {
	if providers.CodeOf(err) == providers.ErrNotFound {
		return nil
	}
	return err
}

// Metafield is a key and value in Musubi's namespace.
type Metafield struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// PoolState is what a code pool reads of its discount: how many codes it has and Musubi's
// metafields. Found is false when the discount does not exist.
type PoolState struct {
	Found      bool
	CodesCount int
	Metafields []Metafield
}

// PoolState reads a discount's code count and Musubi's metafields.
func (c *Client) PoolState(ctx context.Context, discountID string) (PoolState, error) {
	var out struct {
		Node *struct {
			CodeDiscount struct {
				CodesCount *struct {
					Count int `json:"count"`
				} `json:"codesCount"`
			} `json:"codeDiscount"`
			Metafields struct {
				Nodes []Metafield `json:"nodes"`
			} `json:"metafields"`
		} `json:"discountNode"`
	}
	if err := c.do(ctx, opPoolState, map[string]any{"id": discountID, "namespace": metafieldNamespace}, &out); err != nil {
		return PoolState{}, err
	}
	if out.Node == nil {
		return PoolState{}, nil
	}
	st := PoolState{Found: true, Metafields: out.Node.Metafields.Nodes}
	if cc := out.Node.CodeDiscount.CodesCount; cc != nil {
		st.CodesCount = cc.Count
	}
	return st, nil
}

// MetafieldOwner finds the code discount holding a metafield of Musubi's namespace by
// paging through the shop's discounts: "" when none does. It is the last resort of a lookup
// that lacks the discount's ID.
func (c *Client) MetafieldOwner(ctx context.Context, key string) (string, error) {
	after := ""
	for {
		var out struct {
			Nodes struct {
				Nodes []struct {
					ID        string `json:"id"`
					Metafield *struct {
						Key string `json:"key"`
					} `json:"metafield"`
				} `json:"nodes"`
				PageInfo pageInfo `json:"pageInfo"`
			} `json:"discountNodes"`
		}
		vars := map[string]any{"namespace": metafieldNamespace, "key": key, "after": nil}
		if after != "" {
			vars["after"] = after
		}
		if err := c.do(ctx, opMetafieldOwner, vars, &out); err != nil {
			return "", err
		}
		for _, n := range out.Nodes.Nodes {
			if n.Metafield != nil {
				return n.ID, nil
			}
		}
		if !out.Nodes.PageInfo.HasNextPage || out.Nodes.PageInfo.EndCursor == "" {
			return "", nil
		}
		after = out.Nodes.PageInfo.EndCursor
	}
}

// RedeemCode is one code of a discount.
type RedeemCode struct {
	ID   string `json:"id"`
	Code string `json:"code"`
}

// DiscountCodes lists every code of a discount, 250 a page. found is false when the
// discount does not exist.
func (c *Client) DiscountCodes(ctx context.Context, discountID string) (codes []RedeemCode, found bool, err error) {
	after := ""
	for {
		var out struct {
			Node *struct {
				CodeDiscount struct {
					Codes struct {
						Nodes    []RedeemCode `json:"nodes"`
						PageInfo pageInfo     `json:"pageInfo"`
					} `json:"codes"`
				} `json:"codeDiscount"`
			} `json:"discountNode"`
		}
		vars := map[string]any{"id": discountID, "after": nil}
		if after != "" {
			vars["after"] = after
		}
		if err := c.do(ctx, opDiscountCodes, vars, &out); err != nil {
			return nil, false, err
		}
		if out.Node == nil {
			return nil, false, nil
		}
		page := out.Node.CodeDiscount.Codes
		codes = append(codes, page.Nodes...)
		if !page.PageInfo.HasNextPage || page.PageInfo.EndCursor == "" {
			return codes, true, nil
		}
		after = page.PageInfo.EndCursor
	}
}

// BulkFailure is a code a bulk creation could not add, and why.
type BulkFailure struct {
	Code   string
	Errors []userError
}

// AddCodes adds codes to a discount, 250 per discountRedeemCodeBulkAdd, polling each bulk
// creation until Shopify has run it. It returns the codes that failed.
func (c *Client) AddCodes(ctx context.Context, discountID string, codes []string) ([]BulkFailure, error) {
	var failed []BulkFailure
	for chunk := range slices.Chunk(codes, MaxBulkCodes) {
		input := make([]map[string]any, len(chunk))
		for i, code := range chunk {
			input[i] = map[string]any{"code": code}
		}
		var out struct {
			Payload struct {
				BulkCreation *struct {
					ID string `json:"id"`
				} `json:"bulkCreation"`
				UserErrors []userError `json:"userErrors"`
			} `json:"discountRedeemCodeBulkAdd"`
		}
		if err := c.do(ctx, opBulkAdd, map[string]any{"discountId": discountID, "codes": input}, &out); err != nil {
			return failed, err
		}
		if err := userErrors(opBulkAdd.name, out.Payload.UserErrors); err != nil {
			return failed, err
		}
		if out.Payload.BulkCreation == nil {
			return failed, apiError(providers.ErrUnavailable, 0, "", "%s: no bulk creation in the answer", opBulkAdd.name)
		}
		f, err := c.awaitBulkCreation(ctx, out.Payload.BulkCreation.ID)
		failed = append(failed, f...)
		if err != nil {
			return failed, err
		}
	}
	return failed, nil
}

// awaitBulkCreation polls a bulk creation until Shopify has run it, cheaply (the done flag
// and counts), and reads the per-code errors once, when some codes failed.
func (c *Client) awaitBulkCreation(ctx context.Context, id string) ([]BulkFailure, error) {
	wait := PollInterval
	for poll := 0; poll < maxPolls; poll++ {
		var out struct {
			Bulk *struct {
				Done        bool `json:"done"`
				FailedCount int  `json:"failedCount"`
			} `json:"discountRedeemCodeBulkCreation"`
		}
		if err := c.do(ctx, opBulkCreation, map[string]any{"id": id}, &out); err != nil {
			return nil, err
		}
		if out.Bulk == nil {
			return nil, apiError(providers.ErrNotFound, 0, "", "%s: bulk creation %s does not exist", opBulkCreation.name, id)
		}
		if out.Bulk.Done {
			if out.Bulk.FailedCount == 0 {
				return nil, nil
			}
			return c.bulkFailures(ctx, id)
		}
		if err := c.Sleep(ctx, wait); err != nil {
			return nil, err
		}
		wait = min(2*wait, maxPollInterval)
	}
	return nil, apiError(providers.ErrUnavailable, 0, "", "%s: bulk creation %s did not finish after %d polls", opBulkCreation.name, id, maxPolls)
}

func (c *Client) bulkFailures(ctx context.Context, id string) ([]BulkFailure, error) {
	var out struct {
		Bulk *struct {
			Codes struct {
				Nodes []struct {
					Code   string      `json:"code"`
					Errors []userError `json:"errors"`
				} `json:"nodes"`
			} `json:"codes"`
		} `json:"discountRedeemCodeBulkCreation"`
	}
	if err := c.do(ctx, opBulkFailures, map[string]any{"id": id}, &out); err != nil {
		return nil, err
	}
	if out.Bulk == nil {
		return nil, apiError(providers.ErrNotFound, 0, "", "%s: bulk creation %s does not exist", opBulkFailures.name, id)
	}
	var failed []BulkFailure
	for _, n := range out.Bulk.Codes.Nodes {
		if len(n.Errors) > 0 {
			failed = append(failed, BulkFailure{Code: n.Code, Errors: n.Errors})
		}
	}
	return failed, nil
}

// DeleteCodes deletes redeem codes of a discount by ID, 250 per job, waiting for each job.
func (c *Client) DeleteCodes(ctx context.Context, discountID string, ids []string) error {
	for chunk := range slices.Chunk(ids, MaxBulkCodes) {
		var out struct {
			Payload struct {
				Job *struct {
					ID string `json:"id"`
				} `json:"job"`
				UserErrors []userError `json:"userErrors"`
			} `json:"discountCodeRedeemCodeBulkDelete"`
		}
		if err := c.do(ctx, opBulkDelete, map[string]any{"discountId": discountID, "ids": chunk}, &out); err != nil {
			return err
		}
		if err := userErrors(opBulkDelete.name, out.Payload.UserErrors); err != nil {
			return err
		}
		if out.Payload.Job == nil {
			return apiError(providers.ErrUnavailable, 0, "", "%s: no job in the answer", opBulkDelete.name)
		}
		if err := c.awaitJob(ctx, out.Payload.Job.ID); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) awaitJob(ctx context.Context, id string) error {
	wait := PollInterval
	for poll := 0; poll < maxPolls; poll++ {
		var out struct {
			Job *struct {
				Done bool `json:"done"`
			} `json:"job"`
		}
		if err := c.do(ctx, opJob, map[string]any{"id": id}, &out); err != nil {
			return err
		}
		if out.Job == nil || out.Job.Done {
			return nil
		}
		if err := c.Sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, maxPollInterval)
	}
	return apiError(providers.ErrUnavailable, 0, "", "%s: job %s did not finish after %d polls", opJob.name, id, maxPolls)
}

// SetMetafield writes a JSON metafield in Musubi's namespace on a discount.
func (c *Client) SetMetafield(ctx context.Context, ownerID, key string, value any) error {
	b, err := json.Marshal(value)
	if err != nil {
		return err
	}
	var out struct {
		Payload struct {
			UserErrors []userError `json:"userErrors"`
		} `json:"metafieldsSet"`
	}
	mf := map[string]any{"ownerId": ownerID, "namespace": metafieldNamespace, "key": key, "type": "json", "value": string(b)}
	if err := c.do(ctx, opMetafieldsSet, map[string]any{"metafields": []any{mf}}, &out); err != nil {
		return err
	}
	return userErrors(opMetafieldsSet.name, out.Payload.UserErrors)
}

// DeleteMetafield deletes a metafield in Musubi's namespace; one already gone is not an error.
func (c *Client) DeleteMetafield(ctx context.Context, ownerID, key string) error {
	var out struct {
		Payload struct {
			UserErrors []userError `json:"userErrors"`
		} `json:"metafieldsDelete"`
	}
	mf := map[string]any{"ownerId": ownerID, "namespace": metafieldNamespace, "key": key}
	if err := c.do(ctx, opMetafieldsDelete, map[string]any{"metafields": []any{mf}}, &out); err != nil {
		return err
	}
	return ignoreNotFound(userErrors(opMetafieldsDelete.name, out.Payload.UserErrors))
}

// Segments lists the shop's segments, calling fn for each until it returns false.
func (c *Client) Segments(ctx context.Context, fn func(Segment) bool) error {
	after := ""
	for {
		var out struct {
			Segments struct {
				Nodes    []Segment `json:"nodes"`
				PageInfo pageInfo  `json:"pageInfo"`
			} `json:"segments"`
		}
		vars := map[string]any{"after": nil}
		if after != "" {
			vars["after"] = after
		}
		if err := c.do(ctx, opSegments, vars, &out); err != nil {
			return err
		}
		for _, s := range out.Segments.Nodes {
			if !fn(s) {
				return nil
			}
		}
		if !out.Segments.PageInfo.HasNextPage || out.Segments.PageInfo.EndCursor == "" {
			return nil
		}
		after = out.Segments.PageInfo.EndCursor
	}
}

// SegmentsByID reads segments with nodes queries; missing IDs are absent from the map.
func (c *Client) SegmentsByID(ctx context.Context, ids []string) (map[string]*Segment, error) {
	out := map[string]*Segment{}
	for chunk := range slices.Chunk(ids, MaxNodes) {
		var resp struct {
			Nodes []*struct {
				Typename string `json:"__typename"`
				Segment
			} `json:"nodes"`
		}
		op := opSegmentNodes
		op.cost = len(chunk)
		if err := c.do(ctx, op, map[string]any{"ids": chunk}, &resp); err != nil {
			return nil, err
		}
		for _, n := range resp.Nodes {
			if n != nil && n.Typename == "Segment" {
				s := n.Segment
				out[s.ID] = &s
			}
		}
	}
	return out, nil
}

// CreateSegment creates a customer segment.
func (c *Client) CreateSegment(ctx context.Context, name, query string) (*Segment, error) {
	var out struct {
		Payload struct {
			Segment    *Segment    `json:"segment"`
			UserErrors []userError `json:"userErrors"`
		} `json:"segmentCreate"`
	}
	if err := c.do(ctx, opCreateSegment, map[string]any{"name": name, "query": query}, &out); err != nil {
		return nil, err
	}
	if err := userErrors(opCreateSegment.name, out.Payload.UserErrors); err != nil {
		return nil, err
	}
	return out.Payload.Segment, nil
}

// UpdateSegment renames a segment and rewrites its query.
func (c *Client) UpdateSegment(ctx context.Context, id, name, query string) (*Segment, error) {
	var out struct {
		Payload struct {
			Segment    *Segment    `json:"segment"`
			UserErrors []userError `json:"userErrors"`
		} `json:"segmentUpdate"`
	}
	if err := c.do(ctx, opUpdateSegment, map[string]any{"id": id, "name": name, "query": query}, &out); err != nil {
		return nil, err
	}
	if err := userErrors(opUpdateSegment.name, out.Payload.UserErrors); err != nil {
		return nil, err
	}
	return out.Payload.Segment, nil
}

// DeleteSegment deletes a segment; one already gone is not an error.
func (c *Client) DeleteSegment(ctx context.Context, id string) error {
	var out struct {
		Payload struct {
			UserErrors []userError `json:"userErrors"`
		} `json:"segmentDelete"`
	}
	if err := c.do(ctx, opDeleteSegment, map[string]any{"id": id}, &out); err != nil {
		return err
	}
	return ignoreNotFound(userErrors(opDeleteSegment.name, out.Payload.UserErrors))
}

// WebhookSubscriptions lists the app's webhook subscriptions (an app sees only its own).
func (c *Client) WebhookSubscriptions(ctx context.Context) ([]WebhookSubscription, error) {
	var all []WebhookSubscription
	after := ""
	for {
		var out struct {
			Subs struct {
				Nodes    []WebhookSubscription `json:"nodes"`
				PageInfo pageInfo              `json:"pageInfo"`
			} `json:"webhookSubscriptions"`
		}
		vars := map[string]any{"after": nil}
		if after != "" {
			vars["after"] = after
		}
		if err := c.do(ctx, opWebhooks, vars, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Subs.Nodes...)
		if !out.Subs.PageInfo.HasNextPage || out.Subs.PageInfo.EndCursor == "" {
			return all, nil
		}
		after = out.Subs.PageInfo.EndCursor
	}
}

// CreateWebhook subscribes a URI to a topic (WebhookSubscriptionTopic, e.g. ORDERS_CREATE).
func (c *Client) CreateWebhook(ctx context.Context, topic, uri string) (*WebhookSubscription, error) {
	var out struct {
		Payload struct {
			Sub        *WebhookSubscription `json:"webhookSubscription"`
			UserErrors []userError          `json:"userErrors"`
		} `json:"webhookSubscriptionCreate"`
	}
	vars := map[string]any{"topic": topic, "subscription": map[string]any{"uri": uri, "format": "JSON"}}
	if err := c.do(ctx, opCreateWebhook, vars, &out); err != nil {
		return nil, err
	}
	if err := userErrors(opCreateWebhook.name, out.Payload.UserErrors); err != nil {
		return nil, err
	}
	return out.Payload.Sub, nil
}

// UpdateWebhook points a subscription at another URI.
func (c *Client) UpdateWebhook(ctx context.Context, id, uri string) (*WebhookSubscription, error) {
	var out struct {
		Payload struct {
			Sub        *WebhookSubscription `json:"webhookSubscription"`
			UserErrors []userError          `json:"userErrors"`
		} `json:"webhookSubscriptionUpdate"`
	}
	vars := map[string]any{"id": id, "subscription": map[string]any{"uri": uri}}
	if err := c.do(ctx, opUpdateWebhook, vars, &out); err != nil {
		return nil, err
	}
	if err := userErrors(opUpdateWebhook.name, out.Payload.UserErrors); err != nil {
		return nil, err
	}
	return out.Payload.Sub, nil
}

// DeleteWebhook deletes a subscription; one already gone is not an error.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	var out struct {
		Payload struct {
			UserErrors []userError `json:"userErrors"`
		} `json:"webhookSubscriptionDelete"`
	}
	if err := c.do(ctx, opDeleteWebhook, map[string]any{"id": id}, &out); err != nil {
		return err
	}
	return ignoreNotFound(userErrors(opDeleteWebhook.name, out.Payload.UserErrors))
}

// AddTags puts tags on a customer (or any taggable object); tags it has already are kept
// once.
func (c *Client) AddTags(ctx context.Context, id string, tags []string) error {
	return c.tags(ctx, opTagsAdd, "tagsAdd", id, tags)
}

// RemoveTags takes tags off a customer; tags it does not have are ignored.
func (c *Client) RemoveTags(ctx context.Context, id string, tags []string) error {
	return c.tags(ctx, opTagsRemove, "tagsRemove", id, tags)
}

func (c *Client) tags(ctx context.Context, op operation, field, id string, tags []string) error {
	var out map[string]struct {
		UserErrors []userError `json:"userErrors"`
	}
	if err := c.do(ctx, op, map[string]any{"id": id, "tags": tags}, &out); err != nil {
		return err
	}
	return userErrors(op.name, out[field].UserErrors)
}

// TagChange puts a tag on a customer (tagsAdd), or with Remove takes it off (tagsRemove).
type TagChange struct {
	ID     string
	Remove bool
}

// SyncTags applies changes of one tag, as aliased mutations in TagsSync documents of at most
// MaxTagChanges: one round trip and one cost check for up to 50 customers, where Shopify's
// tagsAdd and tagsRemove take one ID each (a bulk operation would take a staged upload, a
// poll and a result file for what fits in a document). Both mutations are idempotent, so a
// document repeated after a lost answer or a 5xx changes nothing twice. refused holds, by
// index in changes, the userErrors of each change Shopify refused; the others were applied.
func (c *Client) SyncTags(ctx context.Context, tag string, changes []TagChange) (refused map[int]error, err error) {
	refused = map[int]error{}
	for start := 0; start < len(changes); start += MaxTagChanges {
		chunk := changes[start:min(start+MaxTagChanges, len(changes))]
		removes := make([]bool, len(chunk))
		vars := map[string]any{"tags": []string{tag}}
		for i, ch := range chunk {
			removes[i] = ch.Remove
			vars[tagAlias(i)] = ch.ID
		}
		op := opTagsSync
		op.doc, op.cost = tagsSyncDoc(removes), len(chunk)*mutationCost
		var out map[string]*struct {
			UserErrors []userError `json:"userErrors"`
		}
		if err := c.do(ctx, op, vars, &out); err != nil {
			return refused, err
		}
		for i, ch := range chunk {
			payload := out[tagAlias(i)]
			if payload == nil {
				return refused, apiError(providers.ErrUnavailable, 0, "", "%s: the answer holds no result for customer %s", op.name, ch.ID)
			}
			if err := userErrors(tagMutation(ch.Remove), payload.UserErrors); err != nil {
				refused[start+i] = err
			}
		}
	}
	return refused, nil
}

func tagAlias(i int) string { return "c" + strconv.Itoa(i) }

func tagMutation(remove bool) string {
	if remove {
		return "tagsRemove"
	}
	return "tagsAdd"
}

// tagsSyncDoc is a TagsSync document: for each change, in order, a tagsAdd or (removes[i])
// tagsRemove of $tags on $cI, aliased cI. Mutations of a document run one after another.
func tagsSyncDoc(removes []bool) string {
	var b strings.Builder
	b.WriteString("mutation TagsSync($tags: [String!]!")
	for i := range removes {
		b.WriteString(", $" + tagAlias(i) + ": ID!")
	}
	b.WriteString(") {")
	for i, remove := range removes {
		a := tagAlias(i)
		b.WriteString("\n  " + a + ": " + tagMutation(remove) + "(id: $" + a + ", tags: $tags) { userErrors { field message } }")
	}
	b.WriteString("\n}")
	return b.String()
}

// searchTerm quotes a value for Shopify's search syntax.
func searchTerm(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
