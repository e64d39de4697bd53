// Package smaregi is the built-in provider for Smaregi POS, through the Smaregi Platform API
// (POS API version 1.0.0 as its specification documents it): a campaign's coupon lands at
// every register of a contract as a Smaregi coupon, the contract's members (会員) can be
// read, and its sales (取引) to members reach the engine as purchases.
//
// Auth: an app access token from the ID server (POST /app/{contract_id}/token, client
// credentials as Basic auth, the scopes in the provider block), cached until a minute before
// it expires and fetched again once when a call is refused with 401. The client secret is a
// Sensitive attribute: it comes from env() and is never stored, shown or put in an error.
//
// What a canonical coupon becomes (POST, GET, PATCH, DELETE /{contract_id}/pos/coupons):
//
//	title                      couponName
//	percent                    awardType 2 (割引), awardValue "10" or "12.5"
//	amount (yen)               awardType 1 (値引), awardValue "500"
//	min_total (yen)            minTargetPrice
//	code                       serialNumber (a coupon without a code gets MSB + its key hash)
//	starts_at, ends_at         startDate, endDate: days in the contract's zone; a coupon
//	                           starts at 00:00:00 and ends at 23:59:59 (or the next 00:00:00)
//	timezone                   kept in the coupon's summary with the key hash (see below)
//	currency                   JPY, the only currency of Smaregi amounts
//
// Not expressible, and refused at plan time naming the block and the provider: per_customer
// and usage_limit (the coupon API has no limits), combines_with (no stacking setting) and
// audience (a coupon works for whoever presents its serial number). Product-grant coupons
// (awardType 3) are read back as discount_type "gift" but not created: their products are a
// separate resource. The code_pool kind is not offered: a Smaregi coupon has one serial number
// and the API has no call that issues many.
//
// Idempotency: the API takes no idempotency key. The summary of every coupon Musubi creates
// holds "musubi:<first 64 bits of SHA-256 of the create's key, hex>:<time zone>"; Create pages
// through the contract's coupons first and returns the coupon carrying its key's hash, so a
// create retried after a lost answer never makes a second coupon. The same pass refuses a
// serial number another coupon holds, as a conflict. POSTs are never repeated by the client
// itself, except after a 429 (refused before any work).
//
// Errors are application/problem+json (type, title, detail, status, and a list of refused
// fields where the API gives one); the title, detail and each field reach the diagnostics,
// pointed at the canonical attribute the field holds. 400/422 are invalid, 401/403 auth, 404
// not found, 409 conflict, 429 rate limited (with Retry-After), 5xx and no answer unavailable.
// Calls are repeated up to four times on 429, and on 5xx or no answer when repeating is safe.
//
// Members: Client.ListCustomers and Client.Customers read GET /pos/customers a page (up to
// 1,000) at a time; Customer.Record gives the fields an identity_source's identifiers name
// (customerCode, customerId, phoneNumber, mobileNumber, mailAddress...).
//
// Sales: the provider is a providers.EventPoller. `musubi serve` polls GET /pos/transactions
// by upd_date_time periods (the API needs one, of at most 31 days), in the order of the
// transaction IDs, and reads each sale to a member with its lines and coupons
// (GET /pos/transactions/{id}); each becomes one purchase whose record holds the member's
// customerCode and customerId. The cursor (sales.go) is kept by the engine. Smaregi's
// pos:transactions webhooks are also taken (ReceiveWebhook), authenticated by a custom
// header the app sets, since Smaregi signs nothing; they only name the sales, which are read
// from the API, and a webhook and a poll give a sale the same event ID.
//
// No vendor SDK is used: none for Go is reachable from here, so the small typed client in this
// package is written against the documented API, pinned to the version above, and tested
// against smaregitest, a local contract server that enforces its rules.
package smaregi
