package wechat

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/musubi-hq/musubi/providers"
)

// DefaultAPIURL is WeChat's API host for Official Accounts.
const DefaultAPIURL = "https://api.weixin.qq.com"

// DefaultLedger is where the send ledger lives when the block sets none, relative to the
// configuration directory.
const DefaultLedger = ".musubi/wechat-ledger.db"

// DefaultStoreScenePrefix starts the QR scene values that stand for a store: scanning such a
// code is a store visit.
const DefaultStoreScenePrefix = "store_"

// The two ways to get an access token.
const (
	// tokenStable is POST /cgi-bin/stable_token: every caller gets the same token while it
	// is valid, so musubi serve, an apply and the retailer's own systems do not invalidate
	// each other's tokens.
	tokenStable = "stable_token"
	// tokenClassic is GET /cgi-bin/token: each call invalidates the previous token after a
	// few minutes, so only one system may use it per account.
	tokenClassic = "token"
)

var configSchema = []providers.ConfigAttribute{
	{Name: "appid", Type: providers.String, Required: true, Description: "the Official Account's AppID (wx and 16 hex digits)"},
	{Name: "secret", Type: providers.String, Required: true, Sensitive: true, Description: "the AppSecret, from env()"},
	{Name: "token", Type: providers.String, Sensitive: true,
		Description: "the Token of the server configuration (3 to 32 letters or digits), from env(); needed to verify callbacks"},
	{Name: "encoding_aes_key", Type: providers.String, Sensitive: true,
		Description: "the EncodingAESKey (43 letters or digits), from env(); set it when the account's message encryption is safe or compatible mode"},
	{Name: "fetch_unionid", Type: providers.Bool,
		Description: "on a subscribe, read the follower's unionid (GET /cgi-bin/user/info); only accounts bound to an Open Platform account have one"},
	{Name: "store_scene_prefix", Type: providers.String,
		Description: "QR scene values starting with it name a store: a scan is a store visit (default " + DefaultStoreScenePrefix + ")"},
	{Name: "token_api", Type: providers.String,
		Description: `how to get access tokens: "stable_token" (default) or "token"`},
	{Name: "api_url", Type: providers.String, Description: "base URL of the API (default " + DefaultAPIURL + "); a contract server's in tests"},
	{Name: "ledger", Type: providers.String,
		Description: "file remembering sent messages and the tags Musubi made, relative to the configuration (default " + DefaultLedger + ")"},
}

var (
	// appIDRE is the form of an Official Account's AppID.
	appIDRE = regexp.MustCompile(`^wx[0-9a-f]{16}$`)
	// callbackTokenRE is what the console accepts as the server configuration's Token.
	callbackTokenRE = regexp.MustCompile(`^[A-Za-z0-9]{3,32}$`)
	// aesKeyRE is what the console generates as an EncodingAESKey.
	aesKeyRE = regexp.MustCompile(`^[A-Za-z0-9]{43}$`)
)

// config is a checked provider block.
type config struct {
	appID, secret string
	callbackToken string
	aesKey        []byte // 32 bytes in safe mode, nil in plain mode
	fetchUnionID  bool
	storePrefix   string
	tokenAPI      string
	apiURL        string
	ledger        string
}

// block reads a provider block, collecting every problem.
type block struct {
	req providers.ConfigureRequest
	ds  providers.Diagnostics
}

func (b *block) fail(attr, format string, args ...any) {
	b.ds = append(b.ds, providers.AttributeError(attr, "Invalid wechat provider configuration", format, args...))
}

// text returns a string attribute, trimmed; a value of another type is reported.
func (b *block) text(name string) string {
	switch v := b.req.Config[name].(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(v)
	default:
		b.fail(name, "%s takes a string, not a %T", name, v)
		return ""
	}
}

func (b *block) flag(name string) bool {
	switch v := b.req.Config[name].(type) {
	case nil:
		return false
	case bool:
		return v
	default:
		b.fail(name, "%s takes true or false, not a %T", name, v)
		return false
	}
}

// parseConfig checks a provider block without calling WeChat.
func parseConfig(req providers.ConfigureRequest) (config, providers.Diagnostics) {
	b := &block{req: req}
	c := config{
		appID:         b.text("appid"),
		secret:        b.text("secret"),
		callbackToken: b.text("token"),
		fetchUnionID:  b.flag("fetch_unionid"),
		storePrefix:   b.text("store_scene_prefix"),
		tokenAPI:      b.text("token_api"),
		apiURL:        strings.TrimSuffix(b.text("api_url"), "/"),
		ledger:        b.text("ledger"),
	}
	switch {
	case c.appID == "":
		b.fail("appid", `appid is empty; set it to the account's AppID, e.g. appid = "wx1234567890abcdef"`)
	case !appIDRE.MatchString(c.appID):
		b.fail("appid", "%s is not an AppID: an Official Account's is wx and 16 hex digits", req.Show("appid", c.appID))
	}
	if c.secret == "" {
		b.fail("secret", `secret is empty; set it with secret = env("WECHAT_SECRET")`)
	}
	if c.callbackToken != "" && !callbackTokenRE.MatchString(c.callbackToken) {
		b.fail("token", "token must be 3 to 32 letters or digits, as the WeChat console takes it")
	}
	if k := b.text("encoding_aes_key"); k != "" {
		key, err := decodeAESKey(k)
		if err != nil {
			b.fail("encoding_aes_key", "%v", err)
		}
		c.aesKey = key
	}
	if c.aesKey != nil && c.callbackToken == "" {
		b.fail("token", "encoding_aes_key is set but token is not: safe-mode callbacks are signed with the token too")
	}
	if c.storePrefix == "" {
		c.storePrefix = DefaultStoreScenePrefix
	}
	switch c.tokenAPI {
	case "":
		c.tokenAPI = tokenStable
	case tokenStable, tokenClassic:
	default:
		b.fail("token_api", `token_api must be "stable_token" or "token"`)
	}
	if c.apiURL == "" {
		c.apiURL = DefaultAPIURL
	}
	if u, err := url.Parse(c.apiURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		b.fail("api_url", "api_url must be an http(s) URL with a host")
	}
	if c.ledger == "" {
		c.ledger = DefaultLedger
	}
	if !filepath.IsAbs(c.ledger) && req.WorkDir != "" {
		c.ledger = filepath.Join(req.WorkDir, c.ledger)
	}
	return c, b.ds
}

// decodeAESKey turns an EncodingAESKey into the AES-256 key: the 43 characters are the key in
// base64 without its one "=" of padding.
func decodeAESKey(s string) ([]byte, error) {
	if !aesKeyRE.MatchString(s) {
		return nil, fmt.Errorf("encoding_aes_key must be the 43 letters and digits the WeChat console generates")
	}
	key, err := base64.StdEncoding.DecodeString(s + "=")
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("encoding_aes_key does not decode to a 32-byte AES key")
	}
	return key, nil
}
