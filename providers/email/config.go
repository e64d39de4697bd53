package email

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strings"

	"github.com/musubi-hq/musubi/providers"
)

// Transports.
const (
	transportSMTP     = "smtp"
	transportSendGrid = "sendgrid"
)

// TLS modes of an SMTP connection.
const (
	tlsStartTLS      = "starttls"      // STARTTLS, refusing a server without it
	tlsOpportunistic = "opportunistic" // STARTTLS when the server offers it
	tlsImplicit      = "implicit"      // TLS from the first byte (port 465)
	tlsNone          = "none"          // a local relay without TLS
)

// DefaultSendGridEndpoint is SendGrid's global API; EU subusers use https://api.eu.sendgrid.com.
const DefaultSendGridEndpoint = "https://api.sendgrid.com"

// maxCategories is SendGrid's limit of categories per message.
const maxCategories = 10

var configSchema = []providers.ConfigAttribute{
	{Name: "transport", Type: providers.String, Required: true, Description: `how mail leaves: "smtp" or "sendgrid"`},
	{Name: "from", Type: providers.String, Required: true, Description: "sender address, e.g. news@shop.example"},
	{Name: "from_name", Type: providers.String, Description: "sender display name"},
	{Name: "reply_to", Type: providers.String, Description: "address replies go to"},
	{Name: "unsubscribe_url", Type: providers.String, Description: "https URL for one-click unsubscribe; {customer} and {name} are replaced per message"},
	{Name: "unsubscribe_mailto", Type: providers.String, Description: "address that unsubscribes whoever writes to it"},
	{Name: "ledger", Type: providers.String, Description: "file remembering sent messages and templates, relative to the configuration (default " + DefaultLedger + ")"},

	{Name: "host", Type: providers.String, Description: "smtp: server host name"},
	{Name: "port", Type: providers.Int, Description: "smtp: server port (default 587, 465 for implicit TLS, 25 without TLS)"},
	{Name: "tls", Type: providers.String, Description: `smtp: "starttls" (default, required), "opportunistic", "implicit" or "none"`},
	{Name: "username", Type: providers.String, Description: "smtp: AUTH user name"},
	{Name: "password", Type: providers.String, Sensitive: true, Description: "smtp: AUTH password"},
	{Name: "ca_file", Type: providers.String, Description: "smtp: PEM file of the CA that signs the server's certificate, for private relays"},

	{Name: "api_key", Type: providers.String, Sensitive: true, Description: "sendgrid: API key with Mail Send (and Marketing, for lists) access"},
	{Name: "endpoint", Type: providers.String, Description: "sendgrid: API base URL (default " + DefaultSendGridEndpoint + ")"},
	{Name: "asm_group_id", Type: providers.Int, Description: "sendgrid: unsubscribe group every message belongs to"},
	{Name: "categories", Type: providers.Strings, Description: "sendgrid: categories for statistics, at most 10"},
	{Name: "sandbox_mode", Type: providers.Bool, Description: "sendgrid: validate messages without delivering them"},
}

var (
	smtpOnly     = []string{"host", "port", "tls", "username", "password", "ca_file"}
	sendgridOnly = []string{"api_key", "endpoint", "asm_group_id", "categories", "sandbox_mode"}
)

// config is a checked provider block.
type config struct {
	transport         string
	from              mail.Address
	replyTo           string
	unsubscribeURL    string
	unsubscribeMailto string
	ledger            string

	host     string
	port     int
	tls      string
	username string
	password string
	caFile   string

	apiKey      string
	endpoint    string
	asmGroupID  int64
	categories  []string
	sandboxMode bool
}

// configReader reads attributes of the types JSON decoding produces, collecting problems.
type configReader struct {
	m         map[string]any
	sensitive map[string]bool
	ds        providers.Diagnostics
}

// quote shows an attribute's value in a diagnostic, unless it came from a sensitive source
// (env()), whose value no diagnostic repeats.
func (r *configReader) quote(name, value string) string {
	if r.sensitive[name] {
		return "the value from the environment"
	}
	return fmt.Sprintf("%q", value)
}

func (r *configReader) bad(attr, format string, args ...any) {
	r.ds = append(r.ds, providers.AttributeError(attr, "Invalid email provider configuration", format, args...))
}

func (r *configReader) str(name string) string {
	v, ok := r.m[name]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		r.bad(name, "%s must be a string, not %T", name, v)
	}
	return strings.TrimSpace(s)
}

func (r *configReader) integer(name string) int64 {
	switch v := r.m[name].(type) {
	case nil:
		return 0
	case float64:
		if v == float64(int64(v)) {
			return int64(v)
		}
	case int64:
		return v
	case int:
		return int64(v)
	}
	r.bad(name, "%s must be a whole number, not %s", name, r.quote(name, fmt.Sprint(r.m[name])))
	return 0
}

func (r *configReader) boolean(name string) bool {
	v, ok := r.m[name]
	if !ok || v == nil {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		r.bad(name, "%s must be true or false, not %s", name, r.quote(name, fmt.Sprint(v)))
	}
	return b
}

func (r *configReader) strings(name string) []string {
	var out []string
	switch v := r.m[name].(type) {
	case nil:
	case []string:
		out = v
	case []any:
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				r.bad(name, "element %d of %s must be a string, not %T", i, name, e)
				continue
			}
			out = append(out, s)
		}
	default:
		r.bad(name, "%s must be a list of strings, not %T", name, v)
	}
	return out
}

// parseConfig checks a provider block. Secrets are kept only in the returned config: no
// diagnostic repeats a value of a sensitive attribute.
func parseConfig(m map[string]any, sensitive map[string]bool) (config, providers.Diagnostics) {
	r := &configReader{m: m, sensitive: sensitive}
	c := config{
		transport:         r.str("transport"),
		replyTo:           r.str("reply_to"),
		unsubscribeURL:    r.str("unsubscribe_url"),
		unsubscribeMailto: r.str("unsubscribe_mailto"),
		ledger:            r.str("ledger"),
		host:              r.str("host"),
		port:              int(r.integer("port")),
		tls:               r.str("tls"),
		username:          r.str("username"),
		password:          r.str("password"),
		caFile:            r.str("ca_file"),
		apiKey:            r.str("api_key"),
		endpoint:          strings.TrimRight(r.str("endpoint"), "/"),
		asmGroupID:        r.integer("asm_group_id"),
		categories:        r.strings("categories"),
		sandboxMode:       r.boolean("sandbox_mode"),
	}
	if c.ledger == "" {
		c.ledger = DefaultLedger
	}

	from, name := r.str("from"), r.str("from_name")
	if a, err := mail.ParseAddress(from); from == "" || err != nil || a.Name != "" {
		r.bad("from", "from must be a plain address such as news@shop.example (the display name goes in from_name), not %s", r.quote("from", from))
	} else {
		c.from = mail.Address{Name: name, Address: a.Address}
	}
	if c.replyTo != "" {
		if _, err := mail.ParseAddress(c.replyTo); err != nil {
			r.bad("reply_to", "reply_to %s is not an email address", r.quote("reply_to", c.replyTo))
		}
	}
	if u := c.unsubscribeURL; u != "" {
		if pu, err := url.Parse(strings.NewReplacer("{customer}", "c", "{name}", "n").Replace(u)); err != nil || pu.Scheme != "https" || pu.Host == "" {
			r.bad("unsubscribe_url", "unsubscribe_url must be an https URL (mail clients only POST one-click unsubscribes over https), not %s", r.quote("unsubscribe_url", u))
		}
	}
	if m := c.unsubscribeMailto; m != "" {
		if _, err := mail.ParseAddress(m); err != nil {
			r.bad("unsubscribe_mailto", "unsubscribe_mailto %s is not an email address", r.quote("unsubscribe_mailto", m))
		}
	}

	var other []string
	switch c.transport {
	case transportSMTP:
		other = sendgridOnly
		c.checkSMTP(r)
	case transportSendGrid:
		other = smtpOnly
		c.checkSendGrid(r)
	default:
		r.bad("transport", "transport is %s; it must be \"smtp\" or \"sendgrid\"", r.quote("transport", c.transport))
	}
	for _, name := range other {
		if v, set := m[name]; set && !providers.IsZero(v) {
			r.bad(name, "%s does not apply to transport %q", name, c.transport)
		}
	}
	if c.unsubscribeURL == "" && c.unsubscribeMailto == "" && c.asmGroupID == 0 {
		r.ds = append(r.ds, providers.Diagnostic{Severity: providers.Warning, Attribute: "unsubscribe_url",
			Summary: "Marketing email without an unsubscribe link",
			Detail: "set unsubscribe_url (and unsubscribe_mailto) so every message carries List-Unsubscribe with one-click " +
				"unsubscribe; Gmail and Yahoo refuse bulk mail without it"})
	}
	return c, r.ds
}

func (c *config) checkSMTP(r *configReader) {
	if c.host == "" {
		r.bad("host", "transport \"smtp\" needs the host of the SMTP server")
	}
	if c.tls == "" {
		c.tls = tlsStartTLS
	}
	defaultPort := map[string]int{tlsStartTLS: 587, tlsOpportunistic: 587, tlsImplicit: 465, tlsNone: 25}
	p, ok := defaultPort[c.tls]
	if !ok {
		r.bad("tls", "tls is %s; it must be \"starttls\", \"opportunistic\", \"implicit\" or \"none\"", r.quote("tls", c.tls))
	}
	if c.port == 0 {
		c.port = p
	}
	if c.port < 1 || c.port > 65535 {
		r.bad("port", "port %d is not a TCP port", c.port)
	}
	if (c.username == "") != (c.password == "") {
		r.bad("password", "SMTP AUTH needs both username and password")
	}
	if c.username != "" && c.tls == tlsNone && !isLoopback(c.host) {
		r.bad("tls", "tls = \"none\" would send the SMTP password in clear text to %s; use starttls or implicit", c.host)
	}
}

func (c *config) checkSendGrid(r *configReader) {
	if c.apiKey == "" {
		r.bad("api_key", "transport \"sendgrid\" needs api_key, read from the environment with env(\"…\")")
	}
	if c.endpoint == "" {
		c.endpoint = DefaultSendGridEndpoint
	}
	if u, err := url.Parse(c.endpoint); err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) || u.Host == "" {
		r.bad("endpoint", "endpoint must be an https URL such as %s, not %s", DefaultSendGridEndpoint, r.quote("endpoint", c.endpoint))
	}
	for _, ch := range c.from.Address {
		if ch > 127 {
			r.bad("from", "SendGrid takes only ASCII sender addresses; %s is not", r.quote("from", c.from.Address))
			break
		}
	}
	if c.asmGroupID < 0 {
		r.bad("asm_group_id", "asm_group_id %d is not a group ID", c.asmGroupID)
	}
	if len(c.categories) > maxCategories {
		r.bad("categories", "%d categories; SendGrid takes at most %d", len(c.categories), maxCategories)
	}
	for _, cat := range c.categories {
		if cat == "" || len(cat) > 255 {
			r.bad("categories", "category %q must be 1 to 255 characters", cat)
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(c.categories)))) != len(c.categories) {
		r.bad("categories", "categories repeat a name: %s", strings.Join(c.categories, ", "))
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// unsubscribeURIs returns the List-Unsubscribe URIs of one message, the https one first, and
// whether it allows one-click unsubscribe (RFC 8058 needs an https URI).
func (c *config) unsubscribeURIs(name, customer string) (uris []string, oneClick bool) {
	if c.unsubscribeURL != "" {
		r := strings.NewReplacer("{customer}", url.QueryEscape(customer), "{name}", url.QueryEscape(name))
		uris = append(uris, r.Replace(c.unsubscribeURL))
		oneClick = true
	}
	if c.unsubscribeMailto != "" {
		q := url.Values{"subject": {fmt.Sprintf("unsubscribe %s", customer)}}
		uris = append(uris, "mailto:"+c.unsubscribeMailto+"?"+strings.ReplaceAll(q.Encode(), "+", "%20"))
	}
	return uris, oneClick
}
