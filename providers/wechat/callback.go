package wechat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// ReplayWindow is how far a callback's timestamp may be from now. WeChat calls at once and
// retries within about fifteen seconds; a call signed longer ago is a replay.
const ReplayWindow = 5 * time.Minute

// unionIDTimeout bounds the user/info call a subscribe makes: WeChat waits five seconds for
// the callback's answer, then retries.
const unionIDTimeout = 2 * time.Second

// callback is a callback body: an event, a user's message, or in safe mode the envelope.
type callback struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   string   `xml:"ToUserName"`
	FromUserName string   `xml:"FromUserName"`
	CreateTime   int64    `xml:"CreateTime"`
	MsgType      string   `xml:"MsgType"`
	Event        string   `xml:"Event"`
	EventKey     string   `xml:"EventKey"`
	Encrypt      string   `xml:"Encrypt"`
}

// ReceiveWebhook checks a server callback and turns its event into Musubi's:
//
//   - the URL's signature must be the SHA-1 of the sorted token, timestamp and nonce,
//     compared in constant time, and the timestamp within ReplayWindow of now;
//   - with encoding_aes_key set (safe or compatible mode), the body must be encrypted, its
//     msg_signature must cover the token, timestamp, nonce and ciphertext, and the decrypted
//     message must name this account's AppID;
//   - without it (plain mode), where the signature does not cover the body, a timestamp and
//     nonce seen before with another body are refused.
//
// subscribe becomes follow, unsubscribe unfollow, and a QR scan of a store's code (a scene
// starting with store_scene_prefix) a store.visit; other events and users' messages are
// skipped. An event's ID is derived from the account, openid, CreateTime, event and scene,
// which WeChat keeps on its retries, so a redelivery is dropped by the engine.
func (p *Provider) ReceiveWebhook(ctx context.Context, req providers.WebhookRequest) providers.WebhookResponse {
	refuse := func(code providers.ErrorCode, format string, args ...any) providers.WebhookResponse {
		return providers.WebhookResponse{Diagnostics: providers.FromError("WeChat callback refused",
			&providers.APIError{Code: code, Message: fmt.Sprintf(format, args...)})}
	}
	q, err := p.verified(req)
	if err != nil {
		return refuse(providers.ErrAuth, "%v", err)
	}
	body := req.Body
	if p.cfg.aesKey != nil {
		if body, err = p.decrypt(q, req.Body); err != nil {
			return refuse(providers.ErrAuth, "%v", err)
		}
	} else if !p.seen.fresh(q.Get("timestamp")+"\x00"+q.Get("nonce"), req.Body, p.now()) {
		return refuse(providers.ErrAuth, "this timestamp and nonce came before with another body: in plain mode the signature does not cover the body")
	}
	events, err := parseCallback(body, p.cfg.storePrefix)
	if err != nil {
		return refuse(providers.ErrInvalid, "%v", err)
	}
	// WeChat shows the follower an error page for any answer but "success" or nothing.
	return providers.WebhookResponse{Events: events, Diagnostics: p.addUnionIDs(ctx, events), Reply: "success"}
}

// VerifyWebhookURL answers WeChat's check of the callback URL, a GET with signature,
// timestamp, nonce and echostr: when the signature holds, the echostr to answer with, as it is.
func (p *Provider) VerifyWebhookURL(req providers.WebhookRequest) (string, providers.Diagnostics) {
	q, err := p.verified(req)
	if err != nil {
		return "", providers.FromError("WeChat URL verification refused", &providers.APIError{Code: providers.ErrAuth, Message: err.Error()})
	}
	return q.Get("echostr"), nil
}

// verified checks the URL's signature and timestamp and returns its query.
func (p *Provider) verified(req providers.WebhookRequest) (url.Values, error) {
	if p.cfg.callbackToken == "" {
		return nil, fmt.Errorf("provider %s has no token to verify callbacks with", p.name)
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, fmt.Errorf("the callback URL cannot be read")
	}
	q := u.Query()
	ts, nonce, sig := q.Get("timestamp"), q.Get("nonce"), q.Get("signature")
	if sig == "" || ts == "" || nonce == "" {
		return nil, fmt.Errorf("the URL carries no signature, timestamp or nonce")
	}
	if !sameSignature(sig, signature(p.cfg.callbackToken, ts, nonce)) {
		return nil, fmt.Errorf("the signature does not match the token, timestamp and nonce")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("the timestamp is not a number of seconds")
	}
	if d := p.now().Sub(time.Unix(secs, 0)); d > ReplayWindow || d < -ReplayWindow {
		return nil, fmt.Errorf("the timestamp is %s from now, outside the %s replay window", d.Round(time.Second).Abs(), ReplayWindow)
	}
	return q, nil
}

// decrypt checks a safe-mode body's msg_signature and opens its envelope.
func (p *Provider) decrypt(q url.Values, body []byte) ([]byte, error) {
	var env callback
	if err := xml.Unmarshal(body, &env); err != nil || env.Encrypt == "" {
		return nil, fmt.Errorf("the body is not encrypted; the account's message encryption is set to plain mode, or encoding_aes_key is set where it should not be")
	}
	if !sameSignature(q.Get("msg_signature"), signature(p.cfg.callbackToken, q.Get("timestamp"), q.Get("nonce"), env.Encrypt)) {
		return nil, fmt.Errorf("msg_signature does not match the encrypted body")
	}
	return openEnvelope(p.cfg.aesKey, p.cfg.appID, env.Encrypt)
}

// parseCallback turns a callback's message into events. A subscribe, unsubscribe or store
// scan without an openid or a time makes the call invalid, so nothing of it is applied.
func parseCallback(body []byte, storePrefix string) ([]providers.InboundEvent, error) {
	var c callback
	if err := xml.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("the body is not WeChat's callback XML: %v", err)
	}
	if c.MsgType == "" && c.Encrypt != "" {
		return nil, fmt.Errorf("the body is encrypted (safe mode): set encoding_aes_key on the provider")
	}
	if c.MsgType != "event" {
		return nil, nil // a user's message
	}
	scene := strings.TrimPrefix(c.EventKey, "qrscene_")
	var types []string
	switch {
	case c.Event == "subscribe":
		types = append(types, "follow")
		if strings.HasPrefix(c.EventKey, "qrscene_") && strings.HasPrefix(scene, storePrefix) {
			types = append(types, "store.visit") // followed by scanning a store's code
		}
	case c.Event == "unsubscribe":
		types = append(types, "unfollow")
	case c.Event == "SCAN" && strings.HasPrefix(scene, storePrefix):
		types = append(types, "store.visit")
	default:
		return nil, nil // menus, locations, other scans, template send reports
	}
	if c.FromUserName == "" || c.CreateTime <= 0 {
		return nil, fmt.Errorf("the %s event has no FromUserName or CreateTime", c.Event)
	}
	id := eventID(c)
	var out []providers.InboundEvent
	for _, typ := range types {
		ev := providers.InboundEvent{ID: id, Type: typ, Time: time.Unix(c.CreateTime, 0).UTC(), Channel: "wechat",
			Record: map[string]any{"openid": c.FromUserName}, Data: map[string]any{"account": c.ToUserName}}
		if c.EventKey != "" && c.Event != "unsubscribe" {
			ev.Record["qr_scene"] = scene
		}
		if typ == "store.visit" {
			ev.ID, ev.Data = id+"-visit", map[string]any{"kind": "checkin"}
		}
		out = append(out, ev)
	}
	return out, nil
}

// eventID derives an event's ID: WeChat gives none, and dedupes its own retries by the
// sender and CreateTime.
func eventID(c callback) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{c.ToUserName, c.FromUserName, strconv.FormatInt(c.CreateTime, 10), c.Event, c.EventKey}, "\x00")))
	return "wechat-" + hex.EncodeToString(sum[:16])
}

// addUnionIDs reads the unionid of each new follower when fetch_unionid is set. A failed
// read leaves the event without it, with a warning: the follow counts more than the link.
func (p *Provider) addUnionIDs(ctx context.Context, events []providers.InboundEvent) providers.Diagnostics {
	if !p.cfg.fetchUnionID {
		return nil
	}
	var ds providers.Diagnostics
	for _, ev := range events {
		if ev.Type != "follow" {
			continue
		}
		openID, _ := ev.Record["openid"].(string)
		cctx, cancel := context.WithTimeout(ctx, unionIDTimeout)
		var info struct {
			UnionID string `json:"unionid"`
		}
		err := p.call(cctx, request{what: "read the follower's unionid", path: "user/info",
			query: url.Values{"openid": {openID}, "lang": {"zh_CN"}}}, &info)
		cancel()
		if err != nil {
			ds = append(ds, providers.Diagnostic{Severity: providers.Warning, Summary: "No unionid",
				Detail: fmt.Sprintf("the follow is taken without the follower's unionid: %v", err)})
			continue
		}
		if info.UnionID != "" {
			ev.Record["unionid"] = info.UnionID
		}
	}
	return ds
}

// nonces remembers the body each timestamp and nonce came with, for as long as the replay
// window accepts them. Only callbacks with a valid signature are remembered, so only WeChat
// (or whoever holds the token) can fill it.
type nonces struct {
	mu   sync.Mutex
	seen map[string]nonceUse
}

type nonceUse struct {
	body [32]byte
	at   time.Time
}

func newNonces() *nonces { return &nonces{seen: map[string]nonceUse{}} }

// fresh records a timestamp and nonce with a body and reports whether they were not used
// before with another body. A repeat with the same body is WeChat's retry.
func (n *nonces) fresh(key string, body []byte, now time.Time) bool {
	sum := sha256.Sum256(body)
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.seen) >= 1024 {
		for k, u := range n.seen {
			if now.Sub(u.at) > 2*ReplayWindow {
				delete(n.seen, k)
			}
		}
	}
	if u, ok := n.seen[key]; ok {
		return u.body == sum
	}
	n.seen[key] = nonceUse{body: sum, at: now}
	return true
}
