package wechattest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// Server callbacks, as WeChat posts them to the URL of the account's server configuration.

// Event is the event of a callback.
type Event struct {
	// Type is subscribe, unsubscribe or SCAN (a follower scanned a QR code with a scene).
	Type   string
	OpenID string
	// EventKey is qrscene_ and the scene on a subscribe by QR code, the scene on a SCAN.
	EventKey string
	// Time is the CreateTime; zero is now.
	Time time.Time
}

// Subscribe is a follow.
func Subscribe(openID string) Event { return Event{Type: "subscribe", OpenID: openID} }

// SubscribeByQR is a follow by scanning a QR code with a scene.
func SubscribeByQR(openID, scene string) Event {
	return Event{Type: "subscribe", OpenID: openID, EventKey: "qrscene_" + scene}
}

// Unsubscribe is an unfollow.
func Unsubscribe(openID string) Event { return Event{Type: "unsubscribe", OpenID: openID} }

// Scan is a follower scanning a QR code with a scene.
func Scan(openID, scene string) Event { return Event{Type: "SCAN", OpenID: openID, EventKey: scene} }

// Mode is the message encryption mode of the server configuration.
type Mode int

// The modes a callback is sent in.
const (
	Plain Mode = iota // the body as it is; the signature covers the token, timestamp and nonce
	Safe              // the body encrypted with the EncodingAESKey, with msg_signature
)

// XML returns the event's callback message, as WeChat words it.
func (s *Server) XML(ev Event) []byte {
	at := ev.Time
	if at.IsZero() {
		at = s.now()
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>", s.Account, ev.OpenID)
	fmt.Fprintf(&b, "<CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[%s]]></Event>", at.Unix(), ev.Type)
	if ev.EventKey != "" {
		fmt.Fprintf(&b, "<EventKey><![CDATA[%s]]></EventKey><Ticket><![CDATA[%s]]></Ticket>", ev.EventKey, alnum(40))
	}
	b.WriteString("</xml>")
	return b.Bytes()
}

// Signing says how a callback is signed, for tests that forge or replay one.
type Signing struct {
	Mode Mode
	// Time is the URL's timestamp; zero is now.
	Time time.Time
	// Nonce is the URL's nonce; empty makes one up.
	Nonce string
	// Token signs instead of the server's Token, when set.
	Token string
	// AppID closes the safe mode's envelope instead of the server's AppID, when set.
	AppID string
}

// sha1Hex is the SHA-1, in hex, of the parts sorted in dictionary order and joined.
func sha1Hex(parts ...string) string {
	sort.Strings(parts)
	h := sha1.New()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// Signed returns the URL and body of a callback carrying msg to target, signed as o says.
func (s *Server) Signed(target string, msg []byte, o Signing) (string, []byte, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", nil, err
	}
	at := o.Time
	if at.IsZero() {
		at = s.now()
	}
	ts, nonce, token := strconv.FormatInt(at.Unix(), 10), o.Nonce, o.Token
	if nonce == "" {
		nonce = strconv.FormatUint(uint64(randomUint32()), 10)
	}
	if token == "" {
		token = s.Token
	}
	q := u.Query()
	q.Set("signature", sha1Hex(token, ts, nonce))
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	body := msg
	if o.Mode == Safe {
		appID := o.AppID
		if appID == "" {
			appID = s.AppID
		}
		enc, err := s.Seal(msg, appID)
		if err != nil {
			return "", nil, err
		}
		body = fmt.Appendf(nil, "<xml><ToUserName><![CDATA[%s]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt></xml>", s.Account, enc)
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", sha1Hex(token, ts, nonce, enc))
	}
	u.RawQuery = q.Encode()
	return u.String(), body, nil
}

// Seal encrypts msg as safe mode's envelope for the account appID: base64 of AES-256-CBC,
// with the key decoded from the EncodingAESKey and its first 16 bytes as IV, over 16 random
// bytes, msg's length in 4 bytes of network order, msg and appID, padded with PKCS#7 to a
// multiple of 32 bytes.
func (s *Server) Seal(msg []byte, appID string) (string, error) {
	key, err := base64.StdEncoding.DecodeString(s.EncodingAESKey + "=")
	if err != nil {
		return "", err
	}
	var plain bytes.Buffer
	random := make([]byte, 16)
	rand.Read(random)
	plain.Write(random)
	binary.Write(&plain, binary.BigEndian, uint32(len(msg)))
	plain.Write(msg)
	plain.WriteString(appID)
	n := 32 - plain.Len()%32
	plain.Write(bytes.Repeat([]byte{byte(n)}, n))
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	out := make([]byte, plain.Len())
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, plain.Bytes())
	return base64.StdEncoding.EncodeToString(out), nil
}

func randomUint32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// Callback returns the POST WeChat makes to target for an event.
func (s *Server) Callback(target string, ev Event, mode Mode) (*http.Request, error) {
	u, body, err := s.Signed(target, s.XML(ev), Signing{Mode: mode})
	if err != nil {
		return nil, err
	}
	u = withOpenID(u, ev.OpenID)
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	return req, nil
}

// withOpenID adds the openid WeChat puts in a callback's query too.
func withOpenID(u, openID string) string {
	p, _ := url.Parse(u)
	q := p.Query()
	q.Set("openid", openID)
	p.RawQuery = q.Encode()
	return p.String()
}

// PostCallback posts an event's callback to target, as WeChat would.
func (s *Server) PostCallback(target string, ev Event, mode Mode) (*http.Response, error) {
	req, err := s.Callback(target, ev, mode)
	if err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}

// Verification returns the URL of the GET with which WeChat checks a callback URL when the
// server configuration is saved: signature, timestamp, nonce and echostr, to be echoed.
func (s *Server) Verification(target, echostr string) (string, error) {
	u, _, err := s.Signed(target, nil, Signing{})
	if err != nil {
		return "", err
	}
	p, _ := url.Parse(u)
	q := p.Query()
	q.Set("echostr", echostr)
	p.RawQuery = q.Encode()
	return p.String(), nil
}
