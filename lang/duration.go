package lang

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDuration reads a duration as marketers write it: "90d", "2w", "24h", "1h30m", "45s".
// Days are 24 hours; weeks are 7 days. Go's own units (ms, us, ns) are accepted too.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	if s == "" {
		return 0, fmt.Errorf("empty duration; write one such as \"90d\", \"24h\" or \"30m\"")
	}
	if s == "0" {
		return 0, nil
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration %q; write one such as \"90d\", \"24h\" or \"30m\"", orig)
		}
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %v", orig, err)
		}
		s = s[i:]
		j := 0
		for j < len(s) && (s[j] < '0' || s[j] > '9') {
			j++
		}
		var unit time.Duration
		switch s[:j] {
		case "w":
			unit = 7 * 24 * time.Hour
		case "d":
			unit = 24 * time.Hour
		case "h":
			unit = time.Hour
		case "m":
			unit = time.Minute
		case "s":
			unit = time.Second
		case "ms":
			unit = time.Millisecond
		case "us", "µs":
			unit = time.Microsecond
		case "ns":
			unit = time.Nanosecond
		default:
			return 0, fmt.Errorf("invalid duration %q: unknown unit %q (use w, d, h, m or s)", orig, s[:j])
		}
		if n > int64((1<<63-1)/unit) || time.Duration(n)*unit > 1<<63-1-total {
			return 0, fmt.Errorf("duration %q is too long", orig)
		}
		total += time.Duration(n) * unit
		s = s[j:]
	}
	return total, nil
}

// FormatDuration writes d in the largest whole units ParseDuration reads back: "90d", "36h".
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}, {"ns", 1}} {
		if d >= u.d {
			fmt.Fprintf(&b, "%d%s", d/u.d, u.name)
			d %= u.d
		}
	}
	return b.String()
}
