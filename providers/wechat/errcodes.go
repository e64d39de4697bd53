package wechat

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// WeChat's errcodes that the provider meets, by what they mean to Musubi. Every one comes
// with HTTP 200.
const (
	errSystemBusy        = -1    // system error: try again later
	errInvalidCredential = 40001 // the access token is invalid or not the latest
	errInvalidOpenID     = 40003 // the openid is not a follower of this account
	errInvalidAppID      = 40013
	errInvalidToken      = 40014 // the access token is malformed
	errOpenIDListSize    = 40032 // more than 50 openids in a tagging call
	errInvalidTemplateID = 40037
	errInvalidSecret     = 40125
	errIPNotAllowed      = 40164 // the caller's IP is not in the account's whitelist
	errTokenMissing      = 41001
	errTokenExpired      = 42001
	errNotFollowing      = 43004 // the user does not follow the account (any more)
	errQuotaReached      = 45009 // the API's daily quota is used up
	errMinuteQuota       = 45011 // too many calls this minute
	errOutOfWindow       = 45015 // a customer-service message more than 48 h after the user's last message
	errTooManyTags       = 45056 // an account holds at most 100 tags
	errTagTooBig         = 45057 // a tag with more than 100,000 followers cannot be deleted
	errSystemTag         = 45058 // tags 0, 1 and 2 are WeChat's own
	errUserTagLimit      = 45059 // a follower carries at most 20 tags
	errDuplicateTagName  = 45157
	errTagNameTooLong    = 45158
	errInvalidTagID      = 45159
	errAPIUnauthorized   = 48001 // the account may not use this API
	errOpenIDNotOfApp    = 49003 // the openid belongs to another account
)

// chinaTime is the zone WeChat's daily quotas are counted in.
var chinaTime = time.FixedZone("CST", 8*60*60)

// untilQuotaResets is the wait until WeChat's daily quotas start again: the next midnight in
// China Standard Time.
func untilQuotaResets(now time.Time) time.Duration {
	t := now.In(chinaTime)
	midnight := time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, chinaTime)
	return midnight.Sub(now)
}

// untilNextMinute is the wait a minute quota asks for.
func untilNextMinute(now time.Time) time.Duration {
	return now.Truncate(time.Minute).Add(time.Minute).Sub(now)
}

// apiErr is a classified WeChat error that keeps its errcode.
type apiErr struct {
	errcode int
	*providers.APIError
}

func (e *apiErr) Unwrap() error { return e.APIError }

// errcodeOf returns the errcode of a WeChat error inside err, or 0.
func errcodeOf(err error) int {
	var e *apiErr
	if errors.As(err, &e) {
		return e.errcode
	}
	return 0
}

// tokenRefused reports whether an errcode says the access token no longer works: the
// provider then gets a fresh token and makes the call once more.
func tokenRefused(code int) bool {
	return code == errInvalidCredential || code == errTokenExpired || code == errInvalidToken
}

// ridRE finds the request ID WeChat appends to errmsg, for its support.
var ridRE = regexp.MustCompile(`\s*rid:\s*([0-9a-f-]+)\s*$`)

// classify turns an errcode into Musubi's error classes. now dates a daily quota's reset.
func classify(code int, msg string, now time.Time) error {
	ae := &providers.APIError{Message: fmt.Sprintf("errcode %d", code)}
	if m := ridRE.FindStringSubmatch(msg); m != nil {
		ae.RequestID = m[1]
		msg = msg[:len(msg)-len(m[0])]
	}
	if msg = strings.TrimSpace(msg); msg != "" {
		ae.Message += " " + msg
	}
	switch code {
	case errSystemBusy:
		ae.Code = providers.ErrUnavailable
	case errInvalidCredential, errInvalidToken, errTokenMissing, errTokenExpired,
		errInvalidAppID, errInvalidSecret, errAPIUnauthorized:
		ae.Code = providers.ErrAuth
	case errIPNotAllowed:
		ae.Code = providers.ErrAuth
		ae.Message += " (add this server's public IP to the account's IP whitelist in the WeChat console)"
	case errQuotaReached:
		// WeChat's quotas are daily: retrying before midnight in China is refused again.
		ae.Code = providers.ErrRateLimited
		ae.RetryAfter = untilQuotaResets(now)
		ae.Message += " (the API's daily quota is used up; it starts again at midnight China Standard Time)"
	case errMinuteQuota:
		ae.Code = providers.ErrRateLimited
		ae.RetryAfter = untilNextMinute(now)
	case errInvalidOpenID, errNotFollowing, errOpenIDNotOfApp, errInvalidTagID, errInvalidTemplateID:
		ae.Code = providers.ErrNotFound
	case errDuplicateTagName:
		ae.Code = providers.ErrConflict
	default:
		// 40032 (over 50 openids), 45015 (out of the 48-hour window), 45056 (too many tags),
		// 45058, 45059, 45158, 47001 (data format), 47003 (argument invalid) and any other
		// refusal of the values sent.
		ae.Code = providers.ErrInvalid
	}
	return &apiErr{errcode: code, APIError: ae}
}
