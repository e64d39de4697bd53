package shopify

import (
	"fmt"
	"math/big"
	"strings"
)

// Shopify writes money as decimal strings in the shop's currency; Musubi counts minor units.
// The exponent of each currency comes from ISO 4217: most have two decimals, these differ.
var minorDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

func digits(currency string) int {
	if d, ok := minorDigits[strings.ToUpper(currency)]; ok {
		return d
	}
	return 2
}

// formatMinor writes an amount in minor units as the decimal Shopify takes: 3000 JPY is
// "3000", 1250 USD is "12.50".
func formatMinor(minor int64, currency string) string {
	d := digits(currency)
	r := new(big.Rat).SetFrac(big.NewInt(minor), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil))
	return r.FloatString(d)
}

// ParseMinor reads a decimal Shopify wrote into minor units. A value with more precision than
// the currency has is refused, as it cannot be an amount Musubi wrote.
func ParseMinor(s, currency string) (int64, error) {
	n, exact, err := toMinor(s, currency)
	if err != nil {
		return 0, err
	}
	if !exact {
		return 0, fmt.Errorf("%s %s has more decimals than the currency", s, currency)
	}
	return n, nil
}

// RoundMinor reads a decimal into minor units, rounding half away from zero: order totals
// in webhooks, which carry what Shopify computed.
func RoundMinor(s, currency string) (int64, error) {
	n, _, err := toMinor(s, currency)
	return n, err
}

func toMinor(s, currency string) (int64, bool, error) {
	s = strings.TrimSpace(s)
	r, ok := new(big.Rat).SetString(s)
	if s == "" || !ok || strings.ContainsAny(s, "eE/") {
		return 0, false, fmt.Errorf("%q is not a decimal amount", s)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits(currency))), nil)))
	exact := r.IsInt()
	num, den := r.Num(), r.Denom()
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if m.Sign() != 0 && new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2)).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(int64(num.Sign())))
	}
	if !q.IsInt64() {
		return 0, false, fmt.Errorf("%q is out of range", s)
	}
	return q.Int64(), exact, nil
}
