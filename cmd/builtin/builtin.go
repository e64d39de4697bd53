// Package builtin links Musubi's built-in providers into a binary. Each provider package
// registers its type with providers.Register when imported; importing this package is how
// a command gets all of them, and this list is the one place a new built-in is added.
package builtin

import (
	_ "github.com/musubi-hq/musubi/engine/provider"   // "engine": Musubi's rules engine
	_ "github.com/musubi-hq/musubi/providers/email"   // "email": SMTP and SendGrid
	_ "github.com/musubi-hq/musubi/providers/line"    // "line": the LINE Messaging API
	_ "github.com/musubi-hq/musubi/providers/meta"    // "meta": Meta custom audiences (Facebook, Instagram ads)
	_ "github.com/musubi-hq/musubi/providers/sandbox" // "sandbox": simulated systems in one local file
	_ "github.com/musubi-hq/musubi/providers/shopify" // "shopify": Shopify's Admin GraphQL API
	_ "github.com/musubi-hq/musubi/providers/smaregi" // "smaregi": Smaregi POS
	_ "github.com/musubi-hq/musubi/providers/square"  // "square": Square's Connect API
	_ "github.com/musubi-hq/musubi/providers/webhook" // "webhook": signed JSON to any endpoint
	_ "github.com/musubi-hq/musubi/providers/wechat"  // "wechat": a WeChat Official Account
)
