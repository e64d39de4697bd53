package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
	"github.com/musubi-hq/musubi/providers/email/sendgridtest"
	"github.com/musubi-hq/musubi/providers/line/linetest"
	"github.com/musubi-hq/musubi/providers/meta/metatest"
	"github.com/musubi-hq/musubi/providers/shopify/shopifytest"
	"github.com/musubi-hq/musubi/providers/smaregi"
	"github.com/musubi-hq/musubi/providers/smaregi/smaregitest"
	"github.com/musubi-hq/musubi/providers/square"
	"github.com/musubi-hq/musubi/providers/square/squaretest"
	"github.com/musubi-hq/musubi/providers/webhook/webhooktest"
	"github.com/musubi-hq/musubi/providers/wechat/wechattest"
	"github.com/rogpeppe/go-internal/testscript"
)

// The contract servers of vendors' APIs, as scripts drive them. Every one takes:
//
//	contract NAME start                        start it for the script; export the provider's settings
//	contract NAME list                         print what it holds, one object a line
//	contract NAME fail OP STATUS [TIMES [WAIT]]
//	                                           the next TIMES calls of OP (default 1) answer STATUS;
//	                                           a 429 or 503 asks to wait WAIT seconds
//	contract NAME lose OP [TIMES]              the next TIMES calls of OP are done, their answers lost
//	contract NAME drop OP [TIMES]              the next TIMES calls of OP are dropped, nothing done
//	contract NAME delay OP SECONDS [TIMES]     the next TIMES calls of OP wait SECONDS first
//	contract NAME calls OP                     print how many calls of OP it received
//	contract NAME received [OP]                print the calls (of OP) it received: OP METHOD PATH
//
// and its own subcommands, in its entry below: set and remove change and delete objects
// behind Musubi's back, as the vendor's admin would.
func init() {
	contractServers["line"] = lineServer.command("line")
	contractServers["meta"] = metaServer.command("meta")
	contractServers["sendgrid"] = sendgridServer.command("sendgrid")
	contractServers["shopify"] = shopifyServer.command("shopify")
	contractServers["smaregi"] = smaregiServer.command("smaregi")
	contractServers["square"] = squareServer.command("square")
	contractServers["wechat"] = wechatServer.command("wechat")
	contractServers["webhook"] = webhookServer.command("webhook")
}

// fake is what the harness needs of every contract server: the controls of contracttest.
type fake interface {
	Ops() []string
	Inject(op string, f contracttest.Fault) error
	Calls(op string) int
	Received() []contracttest.Call
	Close()
}

// contractServer describes one vendor's contract server to the harness.
type contractServer[S fake] struct {
	// start starts a server and returns the variables that configure the provider for it.
	start func() (S, map[string]string)
	// list describes what the server holds, a line an object; none is printed for nothing.
	list func(S) []string
	none string
	// lose is how many calls `lose OP` loses by default.
	lose int
	// cmds are the server's own subcommands.
	cmds map[string]subcommand[S]
}

// subcommand is one subcommand of contract NAME.
type subcommand[S any] struct {
	args     string // its arguments, for the usage
	min, max int    // how many arguments it takes
	run      func(ts *testscript.TestScript, srv S, args []string)
}

// fakes holds the servers the scripts started.
var fakes sync.Map // fakeKey → fake

type fakeKey struct {
	ts   *testscript.TestScript
	name string
}

// startedFake returns a script's server of a vendor, if it started one.
func startedFake[S fake](ts *testscript.TestScript, name string) (S, bool) {
	v, ok := fakes.Load(fakeKey{ts, name})
	srv, _ := v.(S)
	return srv, ok
}

// command is the contract NAME command of a server.
func (c contractServer[S]) command(name string) func(ts *testscript.TestScript, neg bool, args []string) {
	cmds := map[string]subcommand[S]{"list": {"", 0, 0, func(ts *testscript.TestScript, srv S, _ []string) {
		lines := c.list(srv)
		if len(lines) == 0 {
			lines = []string{c.none}
		}
		fmt.Fprintln(ts.Stdout(), strings.Join(lines, "\n"))
	}}}
	for n, sc := range faultCommands(max(c.lose, 1)) {
		cmds[n] = subcommand[S]{sc.args, sc.min, sc.max, func(ts *testscript.TestScript, srv S, args []string) { sc.run(ts, srv, args) }}
	}
	maps.Copy(cmds, c.cmds)
	usage := "start"
	for _, n := range slices.Sorted(maps.Keys(cmds)) {
		usage += "|" + strings.TrimSpace(n+" "+cmds[n].args)
	}
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) == 0 {
			ts.Fatalf("usage: contract %s %s", name, usage)
		}
		key := fakeKey{ts, name}
		if args[0] == "start" {
			srv, env := c.start()
			fakes.Store(key, srv)
			ts.Defer(func() {
				srv.Close()
				fakes.Delete(key)
			})
			for k, v := range env {
				ts.Setenv(k, v)
			}
			return
		}
		srv, ok := startedFake[S](ts, name)
		if !ok {
			ts.Fatalf("contract %s %s: run contract %s start first", name, args[0], name)
		}
		sc, ok := cmds[args[0]]
		switch {
		case !ok:
			ts.Fatalf("usage: contract %s %s", name, usage)
		case len(args)-1 < sc.min || len(args)-1 > sc.max:
			ts.Fatalf("usage: contract %s %s %s", name, args[0], sc.args)
		}
		sc.run(ts, srv, args[1:])
	}
}

// faultCommands are the subcommands every server shares; lose is how many calls `lose`
// loses by default.
func faultCommands(lose int) map[string]subcommand[fake] {
	inject := func(f func(a argv) contracttest.Fault) func(*testscript.TestScript, fake, []string) {
		return func(ts *testscript.TestScript, srv fake, args []string) {
			ts.Check(srv.Inject(args[0], f(argv{ts, args})))
		}
	}
	return map[string]subcommand[fake]{
		"fail": {"OP STATUS [TIMES [WAIT]]", 2, 4, inject(func(a argv) contracttest.Fault {
			return contracttest.Fault{Status: a.int(1, 0), Times: a.int(2, 1), RetryAfter: a.seconds(3)}
		})},
		"lose": {"OP [TIMES]", 1, 2, inject(func(a argv) contracttest.Fault {
			return contracttest.Fault{Lose: true, Times: a.int(1, lose)}
		})},
		"drop": {"OP [TIMES]", 1, 2, inject(func(a argv) contracttest.Fault {
			return contracttest.Fault{Drop: true, Times: a.int(1, 1)}
		})},
		"delay": {"OP SECONDS [TIMES]", 2, 3, inject(func(a argv) contracttest.Fault {
			return contracttest.Fault{Delay: a.seconds(1), Times: a.int(2, 1)}
		})},
		"calls": {"OP", 1, 1, func(ts *testscript.TestScript, srv fake, args []string) {
			if !slices.Contains(srv.Ops(), args[0]) {
				ts.Fatalf("unknown operation %q; want one of %s", args[0], strings.Join(srv.Ops(), ", "))
			}
			fmt.Fprintln(ts.Stdout(), srv.Calls(args[0]))
		}},
		"received": {"[OP]", 0, 1, func(ts *testscript.TestScript, srv fake, args []string) {
			for _, c := range srv.Received() {
				if len(args) == 0 || c.Op == args[0] {
					fmt.Fprintln(ts.Stdout(), c.Op, c.Method, c.Path)
				}
			}
		}},
	}
}

// argv reads a subcommand's arguments, stopping the script at one that does not parse.
type argv struct {
	ts   *testscript.TestScript
	args []string
}

// int reads the whole number args[i], or dflt when there are fewer arguments.
func (a argv) int(i, dflt int) int {
	if i >= len(a.args) {
		return dflt
	}
	n, err := strconv.Atoi(a.args[i])
	a.ts.Check(err)
	return n
}

// seconds reads args[i] as seconds (2, 0.5), or 0 when there are fewer arguments.
func (a argv) seconds(i int) time.Duration {
	if i >= len(a.args) {
		return 0
	}
	f, err := strconv.ParseFloat(a.args[i], 64)
	a.ts.Check(err)
	return time.Duration(f * float64(time.Second))
}

// kindServer changes and deletes objects by the provider's resource IDs, as Shopify's and
// Square's servers do.
type kindServer interface {
	fake
	IDs(providers.Kind) []string
	Tamper(kind providers.Kind, id, attr string, value any) error
	Remove(kind providers.Kind, id string) error
}

// kindCommands are set and remove of a kindServer.
func kindCommands[S kindServer]() map[string]subcommand[S] {
	return map[string]subcommand[S]{
		// set KIND ATTR VALUE changes ATTR of every KIND.
		"set": {"KIND ATTR VALUE", 3, 3, func(ts *testscript.TestScript, srv S, args []string) {
			kind := providers.Kind(args[0])
			ids := srv.IDs(kind)
			if len(ids) == 0 {
				ts.Fatalf("the server holds no %s", kind)
			}
			for _, id := range ids {
				ts.Check(srv.Tamper(kind, id, args[1], args[2]))
			}
		}},
		// remove KIND deletes every KIND.
		"remove": {"KIND", 1, 1, func(ts *testscript.TestScript, srv S, args []string) {
			for _, id := range srv.IDs(providers.Kind(args[0])) {
				ts.Check(srv.Remove(providers.Kind(args[0]), id))
			}
		}},
	}
}

var shopifyServer = contractServer[*shopifytest.Server]{
	start: func() (*shopifytest.Server, map[string]string) {
		srv := shopifytest.New()
		return srv, map[string]string{"SHOPIFY_API_URL": srv.URL, "SHOPIFY_SHOP": srv.Shop, "SHOPIFY_TOKEN": srv.Token,
			"SHOPIFY_CLIENT_SECRET": srv.Secret}
	},
	list: (*shopifytest.Server).Objects,
	none: "no objects",
	cmds: with(kindCommands[*shopifytest.Server](), map[string]subcommand[*shopifytest.Server]{
		// refuse OP FIELD CODE MESSAGE answers the next mutation of OP with a userError on
		// FIELD (dotted), with HTTP 200, and does nothing.
		"refuse": {"OP FIELD CODE MESSAGE", 4, 4, func(ts *testscript.TestScript, srv *shopifytest.Server, args []string) {
			ts.Check(srv.Refuse(args[0], args[1], args[2], args[3], 1))
		}},
		// throttled prints how many requests were refused as THROTTLED.
		"throttled": {"", 0, 0, func(ts *testscript.TestScript, srv *shopifytest.Server, _ []string) {
			fmt.Fprintln(ts.Stdout(), srv.Throttled())
		}},
		// drain [AVAILABLE] leaves AVAILABLE points (default 0; below 0, a debt) in the bucket.
		"drain": {"[AVAILABLE]", 0, 1, func(ts *testscript.TestScript, srv *shopifytest.Server, args []string) {
			srv.SetBucket(shopifytest.DefaultBucketSize, float64(argv{ts, args}.int(0, 0)), shopifytest.DefaultRestoreRate)
		}},
		"order": {"URL ID EMAIL TOTAL [CODE...]", 4, 10, shopifyOrder},
		// customer EMAIL registers a customer of the shop and prints its ID (a number), the
		// customer_id Shopify's webhooks carry.
		"customer": {"EMAIL", 1, 1, func(ts *testscript.TestScript, srv *shopifytest.Server, args []string) {
			fmt.Fprintln(ts.Stdout(), strings.TrimPrefix(srv.AddCustomer(args[0]), "gid://shopify/Customer/"))
		}},
		// tagged TAG prints the IDs (numbers) of the customers carrying TAG, a line each, in
		// the order they were registered, or "no customers".
		"tagged": {"TAG", 1, 1, func(ts *testscript.TestScript, srv *shopifytest.Server, args []string) {
			ids := srv.Tagged(args[0])
			if len(ids) == 0 {
				fmt.Fprintln(ts.Stdout(), "no customers")
			}
			for _, id := range ids {
				fmt.Fprintln(ts.Stdout(), strings.TrimPrefix(id, "gid://shopify/Customer/"))
			}
		}},
	}),
}

// shopifyCheckouts are the orders the scripts placed, and who used which discount, by server.
var shopifyCheckouts sync.Map // *shopifytest.Server → *shopifyCheckout

type shopifyCheckout struct {
	mu     sync.Mutex
	orders map[string]shopifyPlaced // by order ID
	used   map[[2]string]string     // (discount, email) → the order that used it
}

type shopifyPlaced struct {
	args string // ID EMAIL TOTAL CODE...
	body []byte
}

// shopifyOrder is order URL ID EMAIL TOTAL [CODE...]: the customer EMAIL checks out order ID
// (a number) in the online store, paying TOTAL in the shop's currency with the discount
// CODEs, and Shopify posts the orders/create webhook to URL, signed with the app's client
// secret. The checkout takes a code the shop holds, once per customer when its discount says
// so (appliesOncePerCustomer); otherwise it prints "order ID refused: WHY" and nothing is
// posted. The same ID again is Shopify redelivering that order: the same body under a new
// webhook ID. It prints "order ID webhook STATUS", then the answer's body.
func shopifyOrder(ts *testscript.TestScript, srv *shopifytest.Server, args []string) {
	id, email, total, codes := args[1], args[2], args[3], args[4:]
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		ts.Fatalf("order ID: %q is not a Shopify order ID (a number)", id)
	}
	v, loaded := shopifyCheckouts.LoadOrStore(srv, &shopifyCheckout{orders: map[string]shopifyPlaced{}, used: map[[2]string]string{}})
	if !loaded {
		ts.Defer(func() { shopifyCheckouts.Delete(srv) })
	}
	co := v.(*shopifyCheckout)
	co.mu.Lock()
	placed, again := co.orders[id]
	if again && placed.args != strings.Join(args[1:], " ") {
		co.mu.Unlock()
		ts.Fatalf("order %s was placed as %q; a redelivery is the same order", id, placed.args)
	}
	if !again {
		discounts := []map[string]any{}
		var uses [][2]string
		for _, c := range codes {
			discount, once := shopifyDiscountOf(srv, c)
			use := [2]string{discount, strings.ToLower(email)}
			why := ""
			switch prev := co.used[use]; {
			case discount == "":
				why = "the shop holds no discount code " + c
			case once && prev != "":
				why = fmt.Sprintf("the discount of %s is once per customer, and %s used it in order %s", c, email, prev)
			}
			if why != "" {
				co.mu.Unlock()
				fmt.Fprintf(ts.Stdout(), "order %s refused: %s\n", id, why)
				return
			}
			uses = append(uses, use)
			discounts = append(discounts, map[string]any{"code": c, "amount": "0", "type": "fixed_amount"})
		}
		body, err := json.Marshal(map[string]any{
			"id": json.Number(id), "email": email, "created_at": srv.Now().Format(time.RFC3339),
			"currency": srv.Currency, "total_price": total, "source_name": "web", "discount_codes": discounts,
			"customer":   map[string]any{"id": shopifyCustomerID(email), "email": email},
			"line_items": []map[string]any{{"sku": "ITEM-1", "title": "Item", "price": total, "quantity": 1}},
		})
		if err != nil {
			co.mu.Unlock()
			ts.Fatalf("order %s: %v", id, err)
		}
		placed = shopifyPlaced{args: strings.Join(args[1:], " "), body: body}
		co.orders[id] = placed
		for _, u := range uses {
			co.used[u] = id
		}
	}
	co.mu.Unlock()
	req, err := http.NewRequest(http.MethodPost, args[0], bytes.NewReader(placed.body))
	ts.Check(err)
	req.Header = srv.WebhookHeaders(srv.Secret, "orders/create", placed.body)
	res, err := http.DefaultClient.Do(req)
	ts.Check(err)
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Fprintf(ts.Stdout(), "order %s webhook %d\n%s\n", id, res.StatusCode, answer)
}

// shopifyDiscountOf returns the ID of the shop's discount holding code (Shopify's codes are
// not case-sensitive), "" for none, and whether it applies once per customer.
func shopifyDiscountOf(srv *shopifytest.Server, code string) (id string, once bool) {
	for _, d := range srv.IDs(providers.KindCoupon) {
		if slices.ContainsFunc(srv.Codes(d), func(c string) bool { return strings.EqualFold(c, code) }) {
			id = d
			break
		}
	}
	for _, line := range srv.Objects() {
		if id != "" && strings.HasPrefix(line, "DISCOUNT "+id+" ") {
			once = strings.Contains(line, " once=true ")
		}
	}
	return id, once
}

// shopifyCustomerID is the ID of the shop's customer with an email: the same for every order.
func shopifyCustomerID(email string) json.Number {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(email)))
	return json.Number(strconv.FormatUint(7_000_000_000_000+uint64(h.Sum32()), 10))
}

var squareServer = contractServer[*squaretest.Server]{
	start: func() (*squaretest.Server, map[string]string) {
		srv := squaretest.New()
		return srv, map[string]string{"SQUARE_API_URL": srv.URL, "SQUARE_TOKEN": srv.Token}
	},
	list: (*squaretest.Server).Objects,
	none: "no objects",
	lose: square.DefaultMaxAttempts, // as many as the client tries
	cmds: with(kindCommands[*squaretest.Server](), map[string]subcommand[*squaretest.Server]{
		// customer EMAIL registers a customer profile and prints its ID.
		"customer": {"EMAIL", 1, 1, func(ts *testscript.TestScript, srv *squaretest.Server, args []string) {
			fmt.Fprintln(ts.Stdout(), srv.AddCustomer(args[0]))
		}},
		// members SEGMENT prints the IDs of the customers in the group Musubi named after
		// SEGMENT, sorted, a line each, or "no members"; "no group" when there is none.
		"members": {"SEGMENT", 1, 1, func(ts *testscript.TestScript, srv *squaretest.Server, args []string) {
			g := srv.SegmentGroup(args[0])
			if g == "" {
				fmt.Fprintln(ts.Stdout(), "no group")
				return
			}
			ids := srv.GroupMembers(g)
			if len(ids) == 0 {
				fmt.Fprintln(ts.Stdout(), "no members")
			}
			for _, id := range ids {
				fmt.Fprintln(ts.Stdout(), id)
			}
		}},
	}),
}

var smaregiServer = contractServer[*smaregitest.Server]{
	start: func() (*smaregitest.Server, map[string]string) {
		srv := smaregitest.New(smaregitest.Options{})
		return srv, map[string]string{"SMAREGI_API_URL": srv.URL, "SMAREGI_ID_URL": srv.URL, "SMAREGI_CONTRACT_ID": srv.ContractID(),
			"SMAREGI_CLIENT_ID": srv.ClientID(), "SMAREGI_CLIENT_SECRET": srv.ClientSecret()}
	},
	list: func(srv *smaregitest.Server) []string {
		var out []string
		for _, c := range srv.Coupons() {
			out = append(out, fmt.Sprintf("couponId=%s serialNumber=%s couponName=%q awardType=%s awardValue=%s minTargetPrice=%s startDate=%s endDate=%s summary=%s",
				c.CouponID, c.SerialNumber, c.CouponName, c.AwardType, c.AwardValue, c.MinTargetPrice, c.StartDate, c.EndDate, c.Summary))
		}
		return out
	},
	none: "no coupons",
	cmds: map[string]subcommand[*smaregitest.Server]{
		// set ID|SERIAL FIELD VALUE changes a coupon's field, as in the Smaregi admin.
		"set": {"ID|SERIAL FIELD VALUE", 3, 3, func(ts *testscript.TestScript, srv *smaregitest.Server, args []string) {
			ts.Check(srv.SetField(args[0], args[1], args[2]))
		}},
		"remove": {"ID|SERIAL", 1, 1, func(ts *testscript.TestScript, srv *smaregitest.Server, args []string) {
			ts.Check(srv.Remove(args[0]))
		}},
		// add SERIAL NAME registers a coupon (10% off) in the Smaregi admin.
		"add": {"SERIAL NAME", 2, 2, func(ts *testscript.TestScript, srv *smaregitest.Server, args []string) {
			_, err := srv.AddCoupon(smaregitest.Coupon{SerialNumber: args[0], CouponName: args[1], AwardType: "2",
				AwardValue: "10", ApplyConditionDivision: "0"})
			ts.Check(err)
		}},
		// expire-tokens expires every access token the server issued.
		"expire-tokens": {"", 0, 0, func(_ *testscript.TestScript, srv *smaregitest.Server, _ []string) { srv.ExpireTokens() }},
		// member CODE registers a member (会員) at the register.
		"member": {"CODE", 1, 1, func(_ *testscript.TestScript, srv *smaregitest.Server, args []string) {
			srv.AddCustomers(smaregitest.Customer{"customerCode": args[0]})
		}},
		// sale MEMBER|- PRICE [SERIAL...] rings up one product of PRICE yen for a member (- for
		// none), with coupons; it prints the transaction and the webhook's answer (0: none set).
		"sale": {"MEMBER|- PRICE [SERIAL...]", 2, 10, func(ts *testscript.TestScript, srv *smaregitest.Server, args []string) {
			member := strings.TrimPrefix(args[0], "-")
			t, status, err := srv.AddSale(smaregitest.Sale{CustomerCode: member, Coupons: args[2:],
				Lines: []smaregitest.TransactionDetail{{ProductID: "1", ProductCode: "ITEM-1", ProductName: "Item", Price: args[1]}}})
			ts.Check(err)
			fmt.Fprintf(ts.Stdout(), "transaction %s total %s webhook %d\n", t.TransactionHeadID, t.Total, status)
		}},
		// webhook URL [SECRET] notifies URL of every sale, with SECRET in the custom header the
		// provider checks (none: no header); webhook off stops the notifications.
		"webhook": {"URL|off [SECRET]", 1, 2, func(_ *testscript.TestScript, srv *smaregitest.Server, args []string) {
			h := http.Header{}
			if len(args) == 2 {
				h.Set(smaregi.DefaultWebhookHeader, args[1])
			}
			if args[0] == "off" {
				args[0] = ""
			}
			srv.SetWebhook(args[0], h)
		}},
	},
}

var lineServer = contractServer[*linetest.Server]{
	start: func() (*linetest.Server, map[string]string) {
		srv := linetest.NewServer()
		return srv, map[string]string{"LINE_API_URL": srv.URL, "LINE_TOKEN": srv.Token, "LINE_SECRET": srv.Secret}
	},
	// list prints the audience groups (ID, status, members, name), then the webhook URL.
	list: func(srv *linetest.Server) []string {
		var out []string
		for _, a := range srv.Audiences() {
			out = append(out, fmt.Sprintf("%d %s %d %s", a.ID, a.Status, len(a.UserIDs), a.Name))
		}
		if len(out) == 0 {
			out = append(out, "no audience groups")
		}
		ep := srv.WebhookEndpoint()
		if ep == "" {
			ep = "no webhook endpoint"
		}
		return append(out, ep)
	},
	cmds: map[string]subcommand[*linetest.Server]{
		// set subscription endpoint URL changes the webhook URL, as the LINE Developers console does.
		"set": {"subscription endpoint URL", 3, 3, func(ts *testscript.TestScript, srv *linetest.Server, args []string) {
			if args[0] != string(providers.KindSubscription) || args[1] != "endpoint" {
				ts.Fatalf("LINE's console changes a subscription's endpoint, not a %s's %s", args[0], args[1])
			}
			srv.SetWebhookEndpoint(args[2])
		}},
		// members prints the user IDs every audience group holds, a line each: the group's ID
		// and the user ID, sorted; "no members" when no group holds any.
		"members": {"", 0, 0, func(ts *testscript.TestScript, srv *linetest.Server, _ []string) {
			n := 0
			for _, a := range srv.Audiences() {
				for _, u := range slices.Sorted(slices.Values(a.UserIDs)) {
					fmt.Fprintln(ts.Stdout(), a.ID, u)
					n++
				}
			}
			if n == 0 {
				fmt.Fprintln(ts.Stdout(), "no members")
			}
		}},
		// rename OLD NEW renames the group whose name starts with OLD, as Official Account Manager does.
		"rename": {"OLD NEW", 2, 2, func(ts *testscript.TestScript, srv *linetest.Server, args []string) {
			for _, a := range srv.Audiences() {
				if rest, ok := strings.CutPrefix(a.Name, args[0]); ok {
					ts.Check(srv.RenameAudience(a.ID, args[1]+rest))
					return
				}
			}
			ts.Fatalf("no audience group's name starts with %q", args[0])
		}},
	},
}

var metaServer = contractServer[*metatest.Server]{
	start: func() (*metatest.Server, map[string]string) {
		srv := metatest.NewServer()
		return srv, map[string]string{"META_API_URL": srv.URL, "META_AD_ACCOUNT": srv.AdAccount, "META_TOKEN": srv.Token}
	},
	// list prints the custom audiences: ID, hashes held, name, description.
	list: (*metatest.Server).Objects,
	none: "no audiences",
	cmds: with(kindCommands[*metatest.Server](), map[string]subcommand[*metatest.Server]{
		// members prints the hashed rows every custom audience holds, a line each: the
		// audience's ID and the SHA-256 hash (hex), sorted; "no members" when none holds any.
		"members": {"", 0, 0, func(ts *testscript.TestScript, srv *metatest.Server, _ []string) {
			n := 0
			for _, a := range srv.Audiences() {
				for _, h := range srv.Members(a.ID) {
					fmt.Fprintln(ts.Stdout(), a.ID, h)
					n++
				}
			}
			if n == 0 {
				fmt.Fprintln(ts.Stdout(), "no members")
			}
		}},
	}),
}

var sendgridServer = contractServer[*sendgridtest.Server]{
	start: func() (*sendgridtest.Server, map[string]string) {
		const key = "SG.contract-test-key.3b9f0c"
		srv := sendgridtest.NewServer(key)
		return srv, map[string]string{"SENDGRID_URL": srv.URL, "SENDGRID_API_KEY": key}
	},
	list: func(srv *sendgridtest.Server) []string {
		var out []string
		for _, l := range srv.Lists() {
			out = append(out, fmt.Sprintf("list %q", l.Name))
		}
		return out
	},
	none: "no lists",
	cmds: map[string]subcommand[*sendgridtest.Server]{
		// rename OLD NEW renames the list named OLD, as SendGrid's contact screens do.
		"rename": {"OLD NEW", 2, 2, func(ts *testscript.TestScript, srv *sendgridtest.Server, args []string) {
			srv.RenameList(sendgridList(ts, srv, args[0]), args[1])
		}},
		"remove": {"NAME", 1, 1, func(ts *testscript.TestScript, srv *sendgridtest.Server, args []string) {
			srv.DeleteList(sendgridList(ts, srv, args[0]))
		}},
		// sent prints how many messages were accepted.
		"sent": {"", 0, 0, func(ts *testscript.TestScript, srv *sendgridtest.Server, _ []string) {
			fmt.Fprintln(ts.Stdout(), len(srv.Sent()))
		}},
	},
}

// sendgridList returns the ID of the list named name.
func sendgridList(ts *testscript.TestScript, srv *sendgridtest.Server, name string) string {
	for _, l := range srv.Lists() {
		if l.Name == name {
			return l.ID
		}
	}
	ts.Fatalf("no list named %q", name)
	return ""
}

var wechatServer = contractServer[*wechattest.Server]{
	start: func() (*wechattest.Server, map[string]string) {
		srv := wechattest.NewServer()
		return srv, map[string]string{"WECHAT_API_URL": srv.URL, "WECHAT_APPID": srv.AppID, "WECHAT_SECRET": srv.Secret,
			"WECHAT_TOKEN": srv.Token, "WECHAT_AES_KEY": srv.EncodingAESKey}
	},
	// list prints the account's own tags (ID, followers, name), its templates and how many
	// template messages it sent.
	list: func(srv *wechattest.Server) []string {
		var out []string
		for _, t := range srv.Tags() {
			if t.ID > 2 {
				out = append(out, fmt.Sprintf("tag %d %d %s", t.ID, len(srv.Members(t.ID)), t.Name))
			}
		}
		for _, t := range srv.Templates() {
			out = append(out, fmt.Sprintf("template %s %s", t.ID, t.Title))
		}
		if n := len(srv.Deliveries()); n > 0 {
			out = append(out, fmt.Sprintf("%d template messages sent", n))
		}
		return out
	},
	none: "no tags",
	cmds: with(kindCommands[*wechattest.Server](), map[string]subcommand[*wechattest.Server]{
		// members prints the followers each of the account's own tags holds, a line each: the
		// tag's ID and the openid, sorted; "no members" when no tag holds any.
		"members": {"", 0, 0, func(ts *testscript.TestScript, srv *wechattest.Server, _ []string) {
			n := 0
			for _, t := range srv.Tags() {
				if t.ID <= 2 {
					continue
				}
				for _, o := range srv.Members(t.ID) {
					fmt.Fprintln(ts.Stdout(), t.ID, o)
					n++
				}
			}
			if n == 0 {
				fmt.Fprintln(ts.Stdout(), "no members")
			}
		}},
		// template ID TITLE CONTENT adds a template from WeChat's library, as the console does.
		"template": {"ID TITLE CONTENT", 3, 3, func(_ *testscript.TestScript, srv *wechattest.Server, args []string) {
			srv.AddTemplate(args[0], args[1], args[2])
		}},
		// verify URL ECHO checks URL as WeChat does when the server configuration is saved: a
		// signed GET whose answer must be ECHO; it prints the status and the answer.
		"verify": {"URL ECHO", 2, 2, func(ts *testscript.TestScript, srv *wechattest.Server, args []string) {
			u, err := srv.Verification(args[0], args[1])
			ts.Check(err)
			res, err := http.Get(u)
			ts.Check(err)
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			fmt.Fprintln(ts.Stdout(), res.StatusCode, string(b))
		}},
		// sent prints the template messages sent, oldest first, a line each: OPENID
		// TEMPLATE_ID and the fields, KEY=VALUE in the order of their keys.
		"sent": {"", 0, 0, func(ts *testscript.TestScript, srv *wechattest.Server, _ []string) {
			for _, d := range srv.Deliveries() {
				line := d.To + " " + d.TemplateID
				for _, k := range slices.Sorted(maps.Keys(d.Data)) {
					line += " " + k + "=" + d.Data[k]
				}
				fmt.Fprintln(ts.Stdout(), line)
			}
		}},
		// follow URL [OPENID] makes a user follow the account and posts the subscribe callback,
		// in safe mode, to URL; it prints the openid and the answer's status.
		"follow": {"URL [OPENID]", 1, 2, func(ts *testscript.TestScript, srv *wechattest.Server, args []string) {
			openID := srv.Follow(strings.Join(args[1:], ""), "")
			res, err := srv.PostCallback(args[0], wechattest.Subscribe(openID), wechattest.Safe)
			ts.Check(err)
			res.Body.Close()
			fmt.Fprintln(ts.Stdout(), openID, res.StatusCode)
		}},
	}),
}

// webhookServer is a system taking the webhook provider's messages (a staff tablet, a CRM).
var webhookServer = contractServer[*webhooktest.Server]{
	start: func() (*webhooktest.Server, map[string]string) {
		srv := webhooktest.New()
		return srv, map[string]string{"WEBHOOK_URL": srv.URL, "WEBHOOK_SECRET": srv.Secret}
	},
	// list prints the messages taken, once each: all were signed validly and in time.
	list: func(srv *webhooktest.Server) []string {
		var out []string
		for _, m := range srv.Messages() {
			out = append(out, fmt.Sprintf("%s to=%s name=%s text=%q", m.ID, m.To, m.Name, m.Text))
		}
		return out
	},
	none: "no messages",
	cmds: map[string]subcommand[*webhooktest.Server]{
		// refused prints the requests refused: STATUS REASON.
		"refused": {"", 0, 0, func(ts *testscript.TestScript, srv *webhooktest.Server, _ []string) {
			lines := srv.Refused()
			if len(lines) == 0 {
				lines = []string{"no refusals"}
			}
			fmt.Fprintln(ts.Stdout(), strings.Join(lines, "\n"))
		}},
		// replay [N] posts the Nth request received (default the last) again as it was, and
		// prints HTTP STATUS and the answer.
		"replay": {"[N]", 0, 1, func(ts *testscript.TestScript, srv *webhooktest.Server, args []string) {
			status, answer, err := srv.Replay(argv{ts, args}.int(0, 0))
			ts.Check(err)
			fmt.Fprintf(ts.Stdout(), "HTTP %d\n%s", status, answer)
		}},
	},
}

// with returns a's subcommands and b's.
func with[S any](a, b map[string]subcommand[S]) map[string]subcommand[S] {
	maps.Copy(a, b)
	return a
}
