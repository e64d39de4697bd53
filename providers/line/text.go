package line

import (
	"fmt"
	"unicode/utf8"
)

// LINE's limits on what one request sends.
const (
	// MaxTextLength is the longest text message, in UTF-16 code units: LINE counts 🍎 as two.
	MaxTextLength = 5000
	// MaxMessages is the most messages one request carries.
	MaxMessages = 5
	// MaxMulticast is the most users one multicast reaches.
	MaxMulticast = 500
	// PushRate is LINE's rate limit of the push endpoint: 2,000 requests a second a channel.
	PushRate = 2000
	// MaxAudienceUpload is the most user IDs one audience upload carries.
	MaxAudienceUpload = 10_000
	// MaxAudienceName is the longest audience group name, in characters.
	MaxAudienceName = 120
	// MaxWebhookURL is the longest webhook URL.
	MaxWebhookURL = 500
)

// textLength counts a text as LINE does: in UTF-16 code units.
func textLength(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// splitText cuts a text into the fewest messages LINE accepts, at most MaxMessages, breaking
// after a newline where one is near the end of a message so paragraphs stay whole.
func splitText(s string) ([]string, error) {
	total := textLength(s)
	if total == 0 {
		return nil, fmt.Errorf("the message is empty")
	}
	if total <= MaxTextLength {
		return []string{s}, nil
	}
	if total > MaxTextLength*MaxMessages {
		return nil, fmt.Errorf("the message is %d characters (UTF-16); LINE takes %d messages of %d at most", total, MaxMessages, MaxTextLength)
	}
	var parts []string
	for s != "" {
		cut, units, lastNewline := 0, 0, -1
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			w := 1
			if r >= 0x10000 {
				w = 2
			}
			if units+w > MaxTextLength {
				break
			}
			units, i = units+w, i+size
			cut = i
			if r == '\n' && units > MaxTextLength*3/4 {
				lastNewline = cut
			}
		}
		if cut < len(s) && lastNewline > 0 {
			cut = lastNewline
		}
		parts = append(parts, s[:cut])
		s = s[cut:]
	}
	if len(parts) > MaxMessages {
		return nil, fmt.Errorf("the message is %d characters (UTF-16) and does not fit in %d messages of %d", total, MaxMessages, MaxTextLength)
	}
	return parts, nil
}
