package shopifytest

// The part of the Admin GraphQL schema (version APIVersion) the server implements.
// A query is checked against it before anything runs, as Shopify validates a document
// before executing it: an unknown field or argument, a missing required argument, a
// variable of the wrong type, or an input object with a misspelt field is an error and no
// mutation takes effect.

// objectTypes lists each output type's fields and their types. A type missing here is a
// scalar or an enum.
var objectTypes = map[string]map[string]string{
	"QueryRoot": {
		"customer": "Customer",
		"shop":     "Shop!", "nodes": "[Node]!", "codeDiscountNode": "DiscountCodeNode",
		"codeDiscountNodeByCode": "DiscountCodeNode", "codeDiscountNodes": "DiscountCodeNodeConnection!",
		"discountNode": "DiscountNode", "discountNodes": "DiscountNodeConnection!",
		"discountRedeemCodeBulkCreation": "DiscountRedeemCodeBulkCreation",
		"segments":                       "SegmentConnection!", "segment": "Segment",
		"webhookSubscriptions": "WebhookSubscriptionConnection!", "job": "Job",
	},
	"Mutation": {
		"discountCodeBasicCreate":          "DiscountCodeBasicCreatePayload",
		"discountCodeBasicUpdate":          "DiscountCodeBasicUpdatePayload",
		"discountCodeDelete":               "DiscountCodeDeletePayload",
		"discountRedeemCodeBulkAdd":        "DiscountRedeemCodeBulkAddPayload",
		"discountCodeRedeemCodeBulkDelete": "DiscountCodeRedeemCodeBulkDeletePayload",
		"metafieldsSet":                    "MetafieldsSetPayload",
		"metafieldsDelete":                 "MetafieldsDeletePayload",
		"segmentCreate":                    "SegmentCreatePayload",
		"segmentUpdate":                    "SegmentUpdatePayload",
		"segmentDelete":                    "SegmentDeletePayload",
		"webhookSubscriptionCreate":        "WebhookSubscriptionCreatePayload",
		"webhookSubscriptionUpdate":        "WebhookSubscriptionUpdatePayload",
		"webhookSubscriptionDelete":        "WebhookSubscriptionDeletePayload",
		"tagsAdd":                          "TagsAddPayload",
		"tagsRemove":                       "TagsRemovePayload",
	},
	"Shop":     {"currencyCode": "CurrencyCode!", "ianaTimezone": "String!", "myshopifyDomain": "String!", "name": "String!"},
	"Node":     {"id": "ID!"},
	"PageInfo": {"hasNextPage": "Boolean!", "endCursor": "String"},
	"Count":    {"count": "Int!", "precision": "CountPrecision!"},
	"DiscountCodeNode": {
		"id": "ID!", "codeDiscount": "DiscountCode!",
		"metafield": "Metafield", "metafields": "MetafieldConnection!",
	},
	"DiscountCode": {},
	// DiscountNode wraps any discount, automatic or code; codeDiscountNode and
	// codeDiscountNodes are deprecated in its favour.
	"DiscountNode": {
		"id": "ID!", "discount": "Discount!",
		"metafield": "Metafield", "metafields": "MetafieldConnection!",
	},
	"Discount": {},
	"DiscountCodeBasic": {
		"title": "String!", "status": "DiscountStatus!", "summary": "String!",
		"startsAt": "DateTime!", "endsAt": "DateTime", "createdAt": "DateTime!", "updatedAt": "DateTime!",
		"usageLimit": "Int", "appliesOncePerCustomer": "Boolean!", "asyncUsageCount": "Int!",
		"codesCount": "Count", "codes": "DiscountRedeemCodeConnection!",
		"combinesWith": "DiscountCombinesWith!", "context": "DiscountContext!",
		"customerGets": "DiscountCustomerGets!", "minimumRequirement": "DiscountMinimumRequirement",
	},
	"DiscountCodeBxgy":              {"title": "String!", "status": "DiscountStatus!"},
	"DiscountCodeFreeShipping":      {"title": "String!", "status": "DiscountStatus!"},
	"DiscountCodeApp":               {"title": "String!", "status": "DiscountStatus!"},
	"DiscountAutomaticApp":          {"title": "String!", "status": "DiscountStatus!"},
	"DiscountAutomaticBasic":        {"title": "String!", "status": "DiscountStatus!"},
	"DiscountAutomaticBxgy":         {"title": "String!", "status": "DiscountStatus!"},
	"DiscountAutomaticFreeShipping": {"title": "String!", "status": "DiscountStatus!"},
	"DiscountRedeemCodeConnection": {
		"nodes": "[DiscountRedeemCode!]!", "pageInfo": "PageInfo!",
	},
	"DiscountRedeemCode":         {"id": "ID!", "code": "String!", "asyncUsageCount": "Int!"},
	"DiscountCombinesWith":       {"orderDiscounts": "Boolean!", "productDiscounts": "Boolean!", "shippingDiscounts": "Boolean!"},
	"DiscountContext":            {},
	"DiscountBuyerSelectionAll":  {"all": "DiscountBuyerSelection!"},
	"DiscountCustomers":          {"customers": "[Customer!]!"},
	"DiscountCustomerSegments":   {"segments": "[Segment!]!"},
	"Customer":                   {"id": "ID!", "email": "String", "tags": "[String!]!"},
	"DiscountCustomerGets":       {"value": "DiscountCustomerGetsValue!", "items": "DiscountItems!"},
	"DiscountCustomerGetsValue":  {},
	"DiscountPercentage":         {"percentage": "Float!"},
	"DiscountAmount":             {"amount": "MoneyV2!", "appliesOnEachItem": "Boolean!"},
	"DiscountOnQuantity":         {"quantity": "DiscountQuantity!"},
	"DiscountQuantity":           {"quantity": "UnsignedInt64!"},
	"DiscountItems":              {},
	"AllDiscountItems":           {"allItems": "Boolean!"},
	"DiscountProducts":           {"products": "ProductConnection!"},
	"DiscountCollections":        {"collections": "CollectionConnection!"},
	"ProductConnection":          {"pageInfo": "PageInfo!"},
	"CollectionConnection":       {"pageInfo": "PageInfo!"},
	"MoneyV2":                    {"amount": "Decimal!", "currencyCode": "CurrencyCode!"},
	"DiscountMinimumRequirement": {},
	"DiscountMinimumSubtotal":    {"greaterThanOrEqualToSubtotal": "MoneyV2!"},
	"DiscountMinimumQuantity":    {"greaterThanOrEqualToQuantity": "UnsignedInt64!"},
	"Metafield":                  {"id": "ID!", "namespace": "String!", "key": "String!", "value": "String!", "type": "String!"},
	"MetafieldConnection":        {"nodes": "[Metafield!]!", "pageInfo": "PageInfo!"},
	"MetafieldIdentifier":        {"ownerId": "ID!", "namespace": "String!", "key": "String!"},
	"DiscountCodeNodeConnection": {"nodes": "[DiscountCodeNode!]!", "pageInfo": "PageInfo!"},
	"DiscountNodeConnection":     {"nodes": "[DiscountNode!]!", "pageInfo": "PageInfo!"},
	"DiscountRedeemCodeBulkCreation": {
		"id": "ID!", "done": "Boolean!", "codesCount": "Int!", "importedCount": "Int!", "failedCount": "Int!",
		"codes": "DiscountRedeemCodeBulkCreationCodeConnection!", "discountCode": "DiscountCodeNode",
	},
	"DiscountRedeemCodeBulkCreationCodeConnection": {
		"nodes": "[DiscountRedeemCodeBulkCreationCode!]!", "pageInfo": "PageInfo!",
	},
	"DiscountRedeemCodeBulkCreationCode": {
		"code": "String!", "discountRedeemCode": "DiscountRedeemCode", "errors": "[DiscountUserError!]!",
	},
	"DiscountUserError":                       {"field": "[String!]", "code": "DiscountErrorCode", "message": "String!", "extraInfo": "String"},
	"UserError":                               {"field": "[String!]", "message": "String!"},
	"MetafieldsSetUserError":                  {"field": "[String!]", "code": "MetafieldsSetUserErrorCode", "message": "String!", "elementIndex": "Int"},
	"Job":                                     {"id": "ID!", "done": "Boolean!"},
	"Segment":                                 {"id": "ID!", "name": "String!", "query": "String!", "creationDate": "DateTime!", "lastEditDate": "DateTime!"},
	"SegmentConnection":                       {"nodes": "[Segment!]!", "pageInfo": "PageInfo!"},
	"WebhookSubscription":                     {"id": "ID!", "topic": "WebhookSubscriptionTopic!", "uri": "String!", "format": "WebhookSubscriptionFormat!", "createdAt": "DateTime!", "updatedAt": "DateTime!"},
	"WebhookSubscriptionConnection":           {"nodes": "[WebhookSubscription!]!", "pageInfo": "PageInfo!"},
	"DiscountCodeBasicCreatePayload":          {"codeDiscountNode": "DiscountCodeNode", "userErrors": "[DiscountUserError!]!"},
	"DiscountCodeBasicUpdatePayload":          {"codeDiscountNode": "DiscountCodeNode", "userErrors": "[DiscountUserError!]!"},
	"DiscountCodeDeletePayload":               {"deletedCodeDiscountId": "ID", "userErrors": "[DiscountUserError!]!"},
	"DiscountRedeemCodeBulkAddPayload":        {"bulkCreation": "DiscountRedeemCodeBulkCreation", "userErrors": "[DiscountUserError!]!"},
	"DiscountCodeRedeemCodeBulkDeletePayload": {"job": "Job", "userErrors": "[DiscountUserError!]!"},
	"MetafieldsSetPayload":                    {"metafields": "[Metafield!]", "userErrors": "[MetafieldsSetUserError!]!"},
	"MetafieldsDeletePayload":                 {"deletedMetafields": "[MetafieldIdentifier]", "userErrors": "[UserError!]!"},
	"SegmentCreatePayload":                    {"segment": "Segment", "userErrors": "[UserError!]!"},
	"SegmentUpdatePayload":                    {"segment": "Segment", "userErrors": "[UserError!]!"},
	"SegmentDeletePayload":                    {"deletedSegmentId": "ID", "userErrors": "[UserError!]!"},
	"WebhookSubscriptionCreatePayload":        {"webhookSubscription": "WebhookSubscription", "userErrors": "[UserError!]!"},
	"WebhookSubscriptionUpdatePayload":        {"webhookSubscription": "WebhookSubscription", "userErrors": "[UserError!]!"},
	"WebhookSubscriptionDeletePayload":        {"deletedWebhookSubscriptionId": "ID", "userErrors": "[UserError!]!"},
	"TagsAddPayload":                          {"node": "Node", "userErrors": "[UserError!]!"},
	"TagsRemovePayload":                       {"node": "Node", "userErrors": "[UserError!]!"},
}

// possibleTypes lists the object types of each interface and union.
var possibleTypes = map[string][]string{
	"Node":         {"DiscountCodeNode", "DiscountNode", "Segment", "WebhookSubscription", "DiscountRedeemCodeBulkCreation", "Job", "Customer", "Metafield"},
	"DiscountCode": {"DiscountCodeBasic", "DiscountCodeBxgy", "DiscountCodeFreeShipping", "DiscountCodeApp"},
	"Discount": {"DiscountAutomaticApp", "DiscountAutomaticBasic", "DiscountAutomaticBxgy", "DiscountAutomaticFreeShipping",
		"DiscountCodeApp", "DiscountCodeBasic", "DiscountCodeBxgy", "DiscountCodeFreeShipping"},
	"DiscountContext":            {"DiscountBuyerSelectionAll", "DiscountCustomers", "DiscountCustomerSegments"},
	"DiscountCustomerGetsValue":  {"DiscountPercentage", "DiscountAmount", "DiscountOnQuantity"},
	"DiscountItems":              {"AllDiscountItems", "DiscountProducts", "DiscountCollections"},
	"DiscountMinimumRequirement": {"DiscountMinimumSubtotal", "DiscountMinimumQuantity"},
}

// fieldArgs lists each field's arguments by "Type.field"; a type ending in ! is required.
var fieldArgs = map[string]map[string]string{
	"QueryRoot.nodes":                           {"ids": "[ID!]!"},
	"QueryRoot.codeDiscountNode":                {"id": "ID!"},
	"QueryRoot.codeDiscountNodeByCode":          {"code": "String!"},
	"QueryRoot.codeDiscountNodes":               connectionArgs("query", "String", "sortKey", "CodeDiscountSortKeys", "savedSearchId", "ID"),
	"QueryRoot.discountNode":                    {"id": "ID!"},
	"QueryRoot.discountNodes":                   connectionArgs("query", "String", "sortKey", "DiscountSortKeys", "savedSearchId", "ID"),
	"QueryRoot.discountRedeemCodeBulkCreation":  {"id": "ID!"},
	"QueryRoot.segments":                        connectionArgs("query", "String", "sortKey", "SegmentSortKeys"),
	"QueryRoot.segment":                         {"id": "ID!"},
	"QueryRoot.webhookSubscriptions":            connectionArgs("topics", "[WebhookSubscriptionTopic!]", "uri", "String", "format", "WebhookSubscriptionFormat", "query", "String"),
	"QueryRoot.job":                             {"id": "ID!"},
	"QueryRoot.customer":                        {"id": "ID!"},
	"DiscountCodeNode.metafield":                {"namespace": "String", "key": "String!"},
	"DiscountCodeNode.metafields":               connectionArgs("namespace", "String", "keys", "[String!]"),
	"DiscountNode.metafield":                    {"namespace": "String", "key": "String!"},
	"DiscountNode.metafields":                   connectionArgs("namespace", "String", "keys", "[String!]"),
	"DiscountCodeBasic.codes":                   connectionArgs("query", "String", "sortKey", "DiscountCodeSortKeys", "savedSearchId", "ID"),
	"DiscountRedeemCodeBulkCreation.codes":      connectionArgs(),
	"DiscountProducts.products":                 connectionArgs(),
	"DiscountCollections.collections":           connectionArgs(),
	"Mutation.discountCodeBasicCreate":          {"basicCodeDiscount": "DiscountCodeBasicInput!"},
	"Mutation.discountCodeBasicUpdate":          {"id": "ID!", "basicCodeDiscount": "DiscountCodeBasicInput!"},
	"Mutation.discountCodeDelete":               {"id": "ID!"},
	"Mutation.discountRedeemCodeBulkAdd":        {"discountId": "ID!", "codes": "[DiscountRedeemCodeInput!]!"},
	"Mutation.discountCodeRedeemCodeBulkDelete": {"discountId": "ID!", "ids": "[ID!]", "search": "String", "savedSearchId": "ID"},
	"Mutation.metafieldsSet":                    {"metafields": "[MetafieldsSetInput!]!"},
	"Mutation.metafieldsDelete":                 {"metafields": "[MetafieldIdentifierInput!]!"},
	"Mutation.segmentCreate":                    {"name": "String!", "query": "String!"},
	"Mutation.segmentUpdate":                    {"id": "ID!", "name": "String", "query": "String"},
	"Mutation.segmentDelete":                    {"id": "ID!"},
	"Mutation.webhookSubscriptionCreate":        {"topic": "WebhookSubscriptionTopic!", "webhookSubscription": "WebhookSubscriptionInput!"},
	"Mutation.webhookSubscriptionUpdate":        {"id": "ID!", "webhookSubscription": "WebhookSubscriptionInput!"},
	"Mutation.webhookSubscriptionDelete":        {"id": "ID!"},
	"Mutation.tagsAdd":                          {"id": "ID!", "tags": "[String!]!"},
	"Mutation.tagsRemove":                       {"id": "ID!", "tags": "[String!]!"},
}

func connectionArgs(extra ...string) map[string]string {
	m := map[string]string{"first": "Int", "last": "Int", "after": "String", "before": "String", "reverse": "Boolean"}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// inputTypes lists each input object's fields; a type ending in ! is required.
var inputTypes = map[string]map[string]string{
	"DiscountCodeBasicInput": {
		"title": "String", "code": "String", "startsAt": "DateTime", "endsAt": "DateTime",
		"context": "DiscountContextInput", "customerSelection": "DiscountCustomerSelectionInput",
		"customerGets": "DiscountCustomerGetsInput", "minimumRequirement": "DiscountMinimumRequirementInput",
		"usageLimit": "Int", "appliesOncePerCustomer": "Boolean", "combinesWith": "DiscountCombinesWithInput",
		"recurringCycleLimit": "Int",
	},
	"DiscountContextInput": {
		"all": "DiscountBuyerSelection", "customers": "DiscountCustomersInput", "customerSegments": "DiscountCustomerSegmentsInput",
	},
	"DiscountCustomerSelectionInput": {
		"all": "Boolean", "customers": "DiscountCustomersInput", "customerSegments": "DiscountCustomerSegmentsInput",
	},
	"DiscountCustomersInput":         {"add": "[ID!]", "remove": "[ID!]"},
	"DiscountCustomerSegmentsInput":  {"add": "[ID!]", "remove": "[ID!]"},
	"DiscountCustomerGetsInput":      {"value": "DiscountCustomerGetsValueInput", "items": "DiscountItemsInput", "appliesOnOneTimePurchase": "Boolean", "appliesOnSubscription": "Boolean"},
	"DiscountCustomerGetsValueInput": {"percentage": "Float", "discountAmount": "DiscountAmountInput", "discountOnQuantity": "DiscountOnQuantityInput"},
	"DiscountAmountInput":            {"amount": "Decimal", "appliesOnEachItem": "Boolean"},
	"DiscountOnQuantityInput":        {"quantity": "UnsignedInt64", "effect": "DiscountEffectInput"},
	"DiscountEffectInput":            {"percentage": "Float", "amount": "Decimal"},
	"DiscountItemsInput":             {"all": "Boolean", "products": "DiscountProductsInput", "collections": "DiscountCollectionsInput"},
	"DiscountProductsInput":          {"productsToAdd": "[ID!]", "productsToRemove": "[ID!]", "productVariantsToAdd": "[ID!]", "productVariantsToRemove": "[ID!]"},
	"DiscountCollectionsInput":       {"add": "[ID!]", "remove": "[ID!]"},
	"DiscountMinimumRequirementInput": {
		"subtotal": "DiscountMinimumSubtotalInput", "quantity": "DiscountMinimumQuantityInput",
	},
	"DiscountMinimumSubtotalInput": {"greaterThanOrEqualToSubtotal": "Decimal"},
	"DiscountMinimumQuantityInput": {"greaterThanOrEqualToQuantity": "UnsignedInt64"},
	"DiscountCombinesWithInput":    {"orderDiscounts": "Boolean", "productDiscounts": "Boolean", "shippingDiscounts": "Boolean"},
	"DiscountRedeemCodeInput":      {"code": "String!"},
	"MetafieldsSetInput": {
		"ownerId": "ID!", "namespace": "String", "key": "String!", "value": "String!", "type": "String", "compareDigest": "String",
	},
	"MetafieldIdentifierInput": {"ownerId": "ID!", "namespace": "String!", "key": "String!"},
	"WebhookSubscriptionInput": {
		"uri": "String", "format": "WebhookSubscriptionFormat", "includeFields": "[String!]",
		"metafieldNamespaces": "[String!]", "filter": "String",
	},
}

// enumTypes lists the values of the enums the server reads.
var enumTypes = map[string][]string{
	"DiscountBuyerSelection":    {"ALL"},
	"WebhookSubscriptionFormat": {"JSON", "XML"},
	"WebhookSubscriptionTopic": {
		"CARTS_CREATE", "CARTS_UPDATE", "CUSTOMERS_CREATE", "CUSTOMERS_UPDATE", "CUSTOMERS_DELETE",
		"ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_PAID", "ORDERS_FULFILLED", "ORDERS_CANCELLED",
		"APP_UNINSTALLED",
	},
	"CodeDiscountSortKeys": {"CREATED_AT", "ENDS_AT", "ID", "RELEVANCE", "STARTS_AT", "TITLE", "UPDATED_AT"},
	"DiscountSortKeys":     {"CREATED_AT", "ENDS_AT", "ID", "RELEVANCE", "STARTS_AT", "TITLE", "UPDATED_AT"},
	"SegmentSortKeys":      {"CREATION_DATE", "ID", "LAST_EDIT_DATE", "RELEVANCE"},
	"DiscountCodeSortKeys": {"CODE", "CREATED_AT", "ID", "RELEVANCE"},
}

// scalarTypes are the built-in and custom scalars.
var scalarTypes = map[string]bool{
	"ID": true, "String": true, "Int": true, "Float": true, "Boolean": true,
	"DateTime": true, "Decimal": true, "UnsignedInt64": true, "URL": true, "JSON": true,
	// Enums the server only writes.
	"CurrencyCode": true, "DiscountStatus": true, "CountPrecision": true, "DiscountErrorCode": true,
	"MetafieldsSetUserErrorCode": true,
}
