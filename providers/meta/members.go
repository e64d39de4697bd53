package meta

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/musubi-hq/musubi/providers"
)

// MaxRows is the most rows one upload request carries, as Meta documents.
const MaxRows = 10_000

// Member is one customer whose identifiers an audience takes.
type Member struct {
	// Customer is Musubi's ID of the customer, for the caller's bookkeeping; it is never sent.
	Customer string
	// Emails are the customer's email addresses.
	Emails []string
	// Phones are the customer's phone numbers in E.164, such as +819012345678.
	Phones []string
	// AdsConsent is the customer's consent to ads (customer.consent.ads). AddMembers sends only
	// the members who gave it; RemoveMembers removes members whatever their consent.
	AdsConsent bool
}

// Upload reports what an AddMembers or RemoveMembers sent and what Meta made of it.
type Upload struct {
	// SessionID is the upload session: the same for a retry of the same upload.
	SessionID int64
	// Batches counts the requests Meta accepted; Rows the rows in them.
	Batches, Rows int
	// Received and Invalid sum Meta's num_received and num_invalid_entries.
	Received, Invalid int64
	// Unmatched lists the members with neither a usable email address nor a usable phone
	// number: nothing of theirs was sent.
	Unmatched []Member
	// Withheld lists the members AddMembers left out for want of consent to ads.
	Withheld []Member
}

// NormalizeEmail puts an email address in the form Meta hashes: trimmed and lower-case. An
// address without one '@' between a name and a domain, or with spaces inside, is no use.
func NormalizeEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	name, domain, ok := strings.Cut(s, "@")
	if !ok || name == "" || !utf8.ValidString(s) || strings.ContainsRune(domain, '@') ||
		!strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") ||
		strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return "", false
	}
	return s, true
}

// NormalizePhone puts a phone number in the form Meta hashes: digits only, with the country
// code, without '+' or leading zeros. It takes E.164 (+81 90-1234-5678), an international
// 00 prefix, or digits that already start with the country code; a national number (a
// leading 0 and no country code) is no use, as its country cannot be told. Spaces, dashes,
// dots and brackets between digits are dropped; letters make the number no use.
func NormalizePhone(s string) (string, bool) {
	s = strings.TrimSpace(s)
	international := strings.HasPrefix(s, "+")
	s = strings.TrimPrefix(s, "+")
	var buf [32]byte
	digits := buf[:0]
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if len(digits) == cap(digits) {
				return "", false
			}
			digits = append(digits, c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", false
		}
	}
	if !international && bytes.HasPrefix(digits, []byte("0")) && !bytes.HasPrefix(digits, []byte("00")) {
		return "", false
	}
	digits = bytes.TrimLeft(digits, "0")
	if len(digits) < 7 || len(digits) > 15 { // E.164 numbers have at most 15 digits
		return "", false
	}
	return string(digits), true
}

// Hash is how a normalised value leaves Musubi: SHA-256, in lower-case hex.
func Hash(normalized string) string {
	sum := sha256.Sum256([]byte(normalized))
	return hex.EncodeToString(sum[:])
}

// row is one row of an upload: the hashes of an email address and a phone number, either
// absent. Hashes are kept as bytes until they are sent: a million members take 66 MB, not 190.
type row struct {
	email, phone [sha256.Size]byte
	has          uint8 // hasEmail | hasPhone
}

const (
	hasEmail uint8 = 1 << iota
	hasPhone
)

func compareRows(a, b row) int {
	if c := bytes.Compare(a.email[:], b.email[:]); c != 0 {
		return c
	}
	if c := bytes.Compare(a.phone[:], b.phone[:]); c != 0 {
		return c
	}
	return int(a.has) - int(b.has)
}

// rows turns members into sorted rows without repeats, so a retried upload sends the same
// batches, whatever the members' order. A member with several addresses or numbers gets a
// row for each pair, email i with phone i.
func rows(members []Member, consent bool) (out []row, unmatched, withheld []Member) {
	out = make([]row, 0, len(members))
	for _, m := range members {
		if consent && !m.AdsConsent {
			withheld = append(withheld, m)
			continue
		}
		var emails, phones [][sha256.Size]byte
		for _, e := range m.Emails {
			if n, ok := NormalizeEmail(e); ok {
				emails = appendHash(emails, n)
			}
		}
		for _, p := range m.Phones {
			if n, ok := NormalizePhone(p); ok {
				phones = appendHash(phones, n)
			}
		}
		if len(emails) == 0 && len(phones) == 0 {
			unmatched = append(unmatched, m)
			continue
		}
		for i := range max(len(emails), len(phones)) {
			var r row
			if i < len(emails) {
				r.email, r.has = emails[i], r.has|hasEmail
			}
			if i < len(phones) {
				r.phone, r.has = phones[i], r.has|hasPhone
			}
			out = append(out, r)
		}
	}
	slices.SortFunc(out, compareRows)
	return slices.Compact(out), unmatched, withheld
}

// appendHash adds the hash of a normalised value, once.
func appendHash(hashes [][sha256.Size]byte, normalized string) [][sha256.Size]byte {
	h := sha256.Sum256([]byte(normalized))
	if slices.Contains(hashes, h) {
		return hashes
	}
	return append(hashes, h)
}

// sessionID names an upload session for Meta. A retry of an upload (the same key, operation,
// audience and rows) continues its session, so the batches Meta took already are not applied
// again; another upload under the same key, with other rows, is a session of its own. Meta's
// session IDs are numbers: this one fits in 53 bits, exact in any JSON decoder.
func sessionID(key, op, audienceID string, rs []row) int64 {
	h := sha256.New()
	h.Write([]byte(op + "\x00" + audienceID + "\x00" + key + "\x00"))
	for _, r := range rs {
		h.Write(r.email[:])
		h.Write(r.phone[:])
		h.Write([]byte{r.has})
	}
	id := int64(binary.BigEndian.Uint64(h.Sum(nil)) & (1<<53 - 1))
	return max(id, 1)
}

// unreserved marks the bytes a form value keeps as they are.
var unreserved = func() (t [256]bool) {
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~") {
		t[c] = true
	}
	return t
}()

// appendEscaped appends s form-encoded: hex digits as they are, JSON's punctuation escaped.
func appendEscaped(buf, s []byte) []byte {
	const hexDigits = "0123456789ABCDEF"
	for _, c := range s {
		if unreserved[c] {
			buf = append(buf, c)
		} else {
			buf = append(buf, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return buf
}

// payload writes the payload parameter of a batch: {"schema": ["EMAIL", "PHONE"], "data":
// [[email, phone]…]}, an absent value as "". Meta matches a person by any value of a row.
func payload(buf []byte, rs []row) []byte {
	buf = append(buf[:0], `{"schema":["EMAIL","PHONE"],"data":[`...)
	for i, r := range rs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `["`...)
		if r.has&hasEmail != 0 {
			buf = hex.AppendEncode(buf, r.email[:])
		}
		buf = append(buf, `","`...)
		if r.has&hasPhone != 0 {
			buf = hex.AppendEncode(buf, r.phone[:])
		}
		buf = append(buf, `"]`...)
	}
	return append(buf, "]}"...)
}

// count reads a number Meta may send as a JSON number or a string.
type count int64

func (c *count) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	n, err := strconv.ParseInt(strings.Trim(string(b), `"`), 10, 64)
	*c = count(n)
	return err
}

// AddMembers adds members to a custom audience: the SHA-256 hashes of their normalised email
// addresses and phone numbers, MaxRows rows a request, in one session. Only members who
// consented to ads are sent; those without consent come back in Withheld, those with nothing
// usable in Unmatched, neither an error. The idempotency key names the change: a retry under
// the same key (after a failure, a rate limit that went back to the caller, a crash) resumes
// the session, and the batches Meta took already are not applied again. The engine keeps a
// segment's audience in sync through it.
func (p *Provider) AddMembers(ctx context.Context, audienceID, idempotencyKey string, members []Member) (Upload, error) {
	return p.upload(ctx, http.MethodPost, "add", audienceID, idempotencyKey, members)
}

// RemoveMembers removes members from a custom audience, as AddMembers adds them, whatever
// their consent: a withdrawn consent is a removal.
func (p *Provider) RemoveMembers(ctx context.Context, audienceID, idempotencyKey string, members []Member) (Upload, error) {
	return p.upload(ctx, http.MethodDelete, "remove", audienceID, idempotencyKey, members)
}

func (p *Provider) upload(ctx context.Context, method, op, audienceID, key string, members []Member) (Upload, error) {
	if !audienceIDRE.MatchString(audienceID) {
		return Upload{}, &providers.APIError{Code: providers.ErrInvalid, Message: fmt.Sprintf("%q is not a custom audience ID", audienceID)}
	}
	rs, unmatched, withheld := rows(members, method == http.MethodPost)
	up := Upload{Unmatched: unmatched, Withheld: withheld}
	if len(rs) == 0 {
		return up, nil
	}
	if key == "" {
		key = providers.NewKey() // nothing to resume: a session of its own
	}
	up.SessionID = sessionID(key, op, audienceID, rs)
	batches := (len(rs) + MaxRows - 1) / MaxRows
	// Two buffers serve every batch: a hundred batches of 10,000 rows would otherwise
	// allocate half a gigabyte of request bodies.
	var js, body []byte
	for i := range batches {
		chunk := rs[i*MaxRows : min((i+1)*MaxRows, len(rs))]
		session, _ := json.Marshal(map[string]any{"session_id": up.SessionID, "batch_seq": i + 1,
			"last_batch_flag": i == batches-1, "estimated_num_total": len(rs)})
		js = payload(js, chunk)
		body = appendEscaped(append(body[:0], "payload="...), js)
		body = appendEscaped(append(body, "&session="...), session)
		var got struct {
			Received count `json:"num_received"`
			Invalid  count `json:"num_invalid_entries"`
		}
		err := p.call(ctx, request{what: op + " members", method: method, path: "/" + audienceID + "/users",
			body: body}, &got)
		if err != nil {
			return up, fmt.Errorf("after %d of %d rows: %w", up.Rows, len(rs), err)
		}
		up.Batches++
		up.Rows += len(chunk)
		up.Received += int64(got.Received)
		up.Invalid += int64(got.Invalid)
	}
	return up, nil
}
