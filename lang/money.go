package lang

import (
	"fmt"
	"math"
	"strings"
)

// minorUnitDigits is ISO 4217's number of decimal places of the currencies retailers in the
// region price in. A currency not listed is refused rather than guessed.
var minorUnitDigits = map[string]int{
	"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0,
	"USD": 2, "EUR": 2, "GBP": 2, "CNY": 2, "TWD": 2, "HKD": 2, "SGD": 2, "AUD": 2, "NZD": 2,
	"CAD": 2, "CHF": 2, "THB": 2, "MYR": 2, "PHP": 2, "INR": 2, "IDR": 2, "SEK": 2, "NOK": 2,
	"DKK": 2, "MXN": 2, "BRL": 2, "AED": 2, "SAR": 2, "ZAR": 2, "PLN": 2, "CZK": 2,
	"KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3,
}

// MinorUnits converts an amount in major units (3000 yen, 29.99 dollars) to the currency's
// minor unit, refusing amounts finer than the currency allows.
func MinorUnits(amount float64, currency string) (int64, error) {
	digits, ok := minorUnitDigits[strings.ToUpper(currency)]
	if !ok {
		return 0, fmt.Errorf("unknown currency %q; use an ISO 4217 code such as JPY or USD", currency)
	}
	scaled := amount * math.Pow10(digits)
	rounded := math.Round(scaled)
	if math.Abs(scaled-rounded) > 1e-6 {
		if digits == 0 {
			return 0, fmt.Errorf("%v %s: %s has no minor unit, so the amount must be a whole number", amount, currency, currency)
		}
		return 0, fmt.Errorf("%v %s: %s has %d decimal places", amount, currency, currency, digits)
	}
	if math.Abs(rounded) > 1<<53 {
		return 0, fmt.Errorf("%v %s is too large", amount, currency)
	}
	return int64(rounded), nil
}

// FormatMoney writes minor units as a readable amount: "¥3,000", "$29.99", "12.500 KWD".
func FormatMoney(minor int64, currency string) string {
	digits := minorUnitDigits[strings.ToUpper(currency)]
	neg := minor < 0
	if neg {
		minor = -minor
	}
	p := int64(math.Pow10(digits))
	whole, frac := minor/p, minor%p
	s := groupThousands(whole)
	if digits > 0 {
		s += fmt.Sprintf(".%0*d", digits, frac)
	}
	switch strings.ToUpper(currency) {
	case "JPY":
		s = "¥" + s
	case "USD":
		s = "$" + s
	default:
		s = s + " " + strings.ToUpper(currency)
	}
	if neg {
		s = "-" + s
	}
	return s
}

func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
