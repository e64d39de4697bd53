package meta

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/musubi-hq/musubi/providers"
)

// DefaultAPIURL is the Graph API host.
const DefaultAPIURL = "https://graph.facebook.com"

// DefaultAPIVersion is the Graph API version calls are made against: v26.0, released on
// 29 July 2026 (developers.facebook.com/docs/graph-api/changelog/versions). Meta retires a
// Marketing API version about a year after the next one comes out, so the default moves with
// Musubi's releases; api_version pins another.
const DefaultAPIVersion = "v26.0"

// The ways the customer information of an audience was collected, as Meta asks at creation.
const (
	SourceUserProvided    = "USER_PROVIDED_ONLY"
	SourcePartnerProvided = "PARTNER_PROVIDED_ONLY"
	SourceBoth            = "BOTH_USER_AND_PARTNER_PROVIDED"
)

var configSchema = []providers.ConfigAttribute{
	{Name: "ad_account_id", Type: providers.String, Required: true,
		Description: "the ad account the audiences belong to: act_ and its digits"},
	{Name: "access_token", Type: providers.String, Required: true, Sensitive: true,
		Description: "a system user's access token with ads_management, from env()"},
	{Name: "api_version", Type: providers.String,
		Description: "the Graph API version, vNN.0 (default " + DefaultAPIVersion + ")"},
	{Name: "customer_file_source", Type: providers.String,
		Description: "how the customer information was collected: " + SourceUserProvided + " (default), " +
			SourcePartnerProvided + " or " + SourceBoth},
	{Name: "api_url", Type: providers.String,
		Description: "base URL of the Graph API (default " + DefaultAPIURL + "); a contract server's in tests"},
}

var (
	adAccountRE  = regexp.MustCompile(`^(act_)?([0-9]{1,20})$`)
	apiVersionRE = regexp.MustCompile(`^v[1-9][0-9]?\.0$`)
)

// config is a checked provider block.
type config struct {
	account string // "act_" and digits
	token   string
	version string
	source  string
	apiURL  string
}

// parseConfig checks a provider block without calling Meta, collecting every problem.
func parseConfig(req providers.ConfigureRequest) (config, providers.Diagnostics) {
	var ds providers.Diagnostics
	fail := func(attr, format string, args ...any) {
		ds = append(ds, providers.AttributeError(attr, "Invalid meta provider configuration", format, args...))
	}
	str := func(name string) string {
		return strings.TrimSpace(req.String(name, "Invalid meta provider configuration", &ds))
	}
	c := config{
		token:   str("access_token"),
		version: str("api_version"),
		source:  str("customer_file_source"),
		apiURL:  strings.TrimSuffix(str("api_url"), "/"),
	}
	account := str("ad_account_id")
	switch m := adAccountRE.FindStringSubmatch(account); {
	case account == "":
		fail("ad_account_id", `ad_account_id is empty; set it to the ad account's ID, e.g. ad_account_id = "act_1234567890"`)
	case m == nil:
		fail("ad_account_id", "%s is not an ad account ID: act_ and its digits, as Ads Manager shows it", req.Show("ad_account_id", account))
	default:
		c.account = "act_" + m[2]
	}
	if c.token == "" {
		fail("access_token", `access_token is empty; set it with access_token = env("META_ACCESS_TOKEN")`)
	}
	switch {
	case c.version == "":
		c.version = DefaultAPIVersion
	case !apiVersionRE.MatchString(c.version):
		fail("api_version", "api_version %s is not a Graph API version: write it as Meta does, v and the major version and .0, e.g. %q",
			req.Show("api_version", c.version), DefaultAPIVersion)
	}
	switch c.source {
	case "":
		c.source = SourceUserProvided
	case SourceUserProvided, SourcePartnerProvided, SourceBoth:
	default:
		fail("customer_file_source", "customer_file_source must be %s, %s or %s", SourceUserProvided, SourcePartnerProvided, SourceBoth)
	}
	if c.apiURL == "" {
		c.apiURL = DefaultAPIURL
	}
	if u, err := url.Parse(c.apiURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		fail("api_url", "api_url must be an http(s) URL with a host")
	}
	return c, ds
}
