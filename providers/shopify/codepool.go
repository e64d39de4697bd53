package shopify

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/musubi-hq/musubi/providers"
)

// A code pool's codes are redeem codes of its coupon's discount. Shopify keeps nothing that
// says which codes make a pool, so Musubi keeps the pool's record in a metafield of the
// discount (key pool_MARKER in the app's namespace): the pattern, charset and seed the codes
// are drawn from, and the count last written. The codes of a pool are the first count codes
// providers.GenerateCodes draws from those; the discount's first code is the coupon's own.

// poolRecord is the value of a pool's metafield.
type poolRecord struct {
	Coupon  string `json:"coupon"`
	Pattern string `json:"pattern"`
	Charset string `json:"charset"`
	Seed    string `json:"seed"`
	Count   int64  `json:"count"`
}

func recordOf(a providers.Attrs) poolRecord {
	return poolRecord{Coupon: a.String("coupon"), Pattern: a.String("pattern"), Charset: a.String("charset"),
		Seed: a.String("seed"), Count: a.Int("count")}
}

func (r poolRecord) codes(n int64) []string {
	return providers.GenerateCodes(r.Pattern, r.Charset, r.Seed, int(n))
}

func (r poolRecord) attrs(count int64) providers.Attrs {
	a := providers.Attrs{}
	for k, v := range map[string]any{"coupon": r.Coupon, "pattern": r.Pattern, "charset": r.Charset, "seed": r.Seed, "count": count} {
		if !providers.IsZero(v) {
			a[k] = v
		}
	}
	return a
}

func checkPool(a providers.Attrs, bad func(attr, format string, args ...any)) {
	pattern, charset := a.String("pattern"), a.String("charset")
	switch {
	case !strings.Contains(pattern, "#"):
		bad("pattern", "pattern %q has no #; each # becomes one random character of a code", pattern)
	case len(pattern) > maxCode:
		bad("pattern", "pattern %q is longer than the %d characters of a Shopify code", pattern, maxCode)
	case strings.ContainsAny(pattern, " \t\r\n"):
		bad("pattern", "pattern %q contains white space; a customer could not type its codes at checkout", pattern)
	}
	if len(charset) < 2 || strings.ContainsAny(charset, " \t\r\n#") {
		bad("charset", "charset %q must have at least two characters, none of them white space or #", charset)
	}
	n := a.Int("count")
	switch {
	case n < 1 || n > MaxPoolCodes:
		bad("count", "count is %d; Musubi writes pools of 1 to %d codes to Shopify", n, MaxPoolCodes)
	case len(charset) >= 2 && math.Pow(float64(len(charset)), float64(strings.Count(pattern, "#"))) < float64(n):
		bad("count", "pattern %q draws fewer than %d distinct codes from its charset", pattern, n)
	}
	if a.String("seed") == "" {
		bad("seed", "a code pool needs the seed its codes are drawn from")
	}
}

// pool is what a discount holds of a code pool.
type pool struct {
	discountID string
	state      PoolState
	record     *poolRecord
}

func (pl *pool) others() (n int64, ok bool) {
	for _, m := range pl.state.Metafields {
		if !strings.HasPrefix(m.Key, poolKeyPrefix) {
			continue
		}
		var r poolRecord
		if err := json.Unmarshal([]byte(m.Value), &r); err != nil {
			return 0, false
		}
		n += r.Count
	}
	return n, true
}

// loadPool reads a discount's code count and Musubi's metafields, and the record of the pool
// with marker. record is nil when the pool's metafield is gone; found is false when the
// discount is.
func (p *Provider) loadPool(ctx context.Context, discountID, marker string) (*pool, error) {
	st, err := p.client.PoolState(ctx, discountID)
	if err != nil {
		return nil, err
	}
	pl := &pool{discountID: discountID, state: st}
	for _, m := range st.Metafields {
		if m.Key != poolKey(marker) {
			continue
		}
		var r poolRecord
		if err := json.Unmarshal([]byte(m.Value), &r); err == nil {
			pl.record = &r
		}
	}
	return pl, nil
}

// present lists the discount's codes, by lower-case code (Shopify matches codes
// case-insensitively), with their IDs.
func (p *Provider) present(ctx context.Context, discountID string) (map[string]string, error) {
	codes, _, err := p.client.DiscountCodes(ctx, discountID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(codes))
	for _, c := range codes {
		out[strings.ToLower(c.Code)] = c.ID
	}
	return out, nil
}

// liveCount is how many of the pool's codes the discount holds. When the discount's code
// count is what the records of its pools add up to (plus its own code), that is the
// record's count; otherwise the codes are listed and the pool's counted.
// whole says whether the count came from the record (every pool of the discount is whole).
func (p *Provider) liveCount(ctx context.Context, pl *pool, prior providers.Attrs) (n int64, whole bool, err error) {
	if others, ok := pl.others(); ok && int64(pl.state.CodesCount) == 1+others {
		return pl.record.Count, true, nil
	}
	have, err := p.present(ctx, pl.discountID)
	if err != nil {
		return 0, false, err
	}
	for _, c := range pl.record.codes(max(pl.record.Count, prior.Int("count"))) {
		if _, ok := have[strings.ToLower(c)]; ok {
			n++
		}
	}
	return n, false, nil
}

// findPool finds the pool a create with key made on its coupon's discount; without the
// discount's ID, it looks for the pool's metafield on every discount.
func (p *Provider) findPool(ctx context.Context, discountID, key string) (string, error) {
	if discountID == "" {
		owner, err := p.client.MetafieldOwner(ctx, poolKey(markerOf(key)))
		if owner == "" || err != nil {
			return "", err
		}
		discountID = owner
	}
	pl, err := p.loadPool(ctx, discountID, markerOf(key))
	if err != nil || !pl.state.Found || pl.record == nil {
		return "", err
	}
	return poolID(discountID, markerOf(key)), nil
}

func (p *Provider) readPool(ctx context.Context, r providers.ReadRequest) providers.ReadResponse {
	discountID, marker, ok := parsePoolID(r.ID)
	if !ok {
		return providers.ReadResponse{}
	}
	pl, err := p.loadPool(ctx, discountID, marker)
	if err != nil {
		return providers.ReadResponse{Diagnostics: p.failure("read failed", err)}
	}
	if !pl.state.Found || pl.record == nil {
		return providers.ReadResponse{}
	}
	n, _, err := p.liveCount(ctx, pl, r.Prior)
	if err != nil {
		return providers.ReadResponse{Diagnostics: p.failure("read failed", err)}
	}
	return providers.ReadResponse{Found: true, ID: r.ID, Attributes: pl.record.attrs(n)}
}

// createPool records the pool on its coupon's discount, then adds its codes. A retry with
// the same key finds the record and adds only the codes still missing.
func (p *Provider) createPool(ctx context.Context, req providers.CreateRequest) (string, providers.Attrs, error) {
	discountID := req.Refs["coupon"]
	if discountID == "" {
		return "", nil, invalid("coupon", "a code pool needs its coupon's Shopify discount, and none was given")
	}
	marker := markerOf(req.IdempotencyKey)
	pl, err := p.loadPool(ctx, discountID, marker)
	if err != nil {
		return "", nil, err
	}
	if !pl.state.Found {
		return "", nil, &Error{API: &providers.APIError{Code: providers.ErrNotFound,
			Message: fmt.Sprintf("the coupon's discount %s no longer exists in Shopify", discountID)}, attr: "coupon"}
	}
	rec := recordOf(req.Attributes)
	resumed := pl.record != nil
	if pl.record == nil || *pl.record != rec {
		if err := p.client.SetMetafield(ctx, discountID, poolKey(marker), rec); err != nil {
			if resumed {
				return "", nil, partial(err, "code pool")
			}
			return "", nil, err
		}
	}
	id := poolID(discountID, marker)
	added, err := p.fill(ctx, discountID, rec.codes(rec.Count), pl.state.CodesCount <= 1)
	if err != nil {
		if code := providers.CodeOf(err); code != "" && code != providers.ErrUnavailable && code != providers.ErrRateLimited {
			// A refusal that a retry would meet again: take back what this create wrote, so
			// nothing is left behind, and report the refusal itself.
			if rerr := p.rollback(ctx, discountID, marker, added, resumed); rerr == nil {
				return "", nil, err
			}
		}
		return "", nil, partial(err, "code pool "+id)
	}
	return id, rec.attrs(rec.Count), nil
}

// fill adds the codes the discount does not hold yet, and returns the IDs of those it added
// when it fails part-way. missing says want is known to be missing (a discount holding only
// its own code, or a whole pool growing), so the discount's codes need not be listed first.
func (p *Provider) fill(ctx context.Context, discountID string, want []string, missing bool) ([]string, error) {
	have := map[string]string{}
	if !missing {
		var err error
		if have, err = p.present(ctx, discountID); err != nil {
			return nil, err
		}
	}
	var add []string
	for _, c := range want {
		if _, ok := have[strings.ToLower(c)]; !ok {
			add = append(add, c)
		}
	}
	if len(add) == 0 {
		return nil, nil
	}
	failed, err := p.client.AddCodes(ctx, discountID, add)
	if err == nil && len(failed) > 0 {
		err = bulkError(failed, len(add))
	}
	if err != nil && len(failed) < len(add) {
		// Some codes may have been added; a rollback needs their IDs. When they cannot be
		// listed, that failure is the answer: the pool is then partly made, not refused.
		now, lerr := p.present(ctx, discountID)
		if lerr != nil {
			return nil, lerr
		}
		var ids []string
		for _, c := range add {
			if id, ok := now[strings.ToLower(c)]; ok {
				ids = append(ids, id)
			}
		}
		return ids, err
	}
	return nil, err
}

// bulkError reports the codes a bulk creation refused: a code taken by another discount is
// a conflict.
func bulkError(failed []BulkFailure, of int) error {
	code := providers.ErrInvalid
	var parts []string
	for i, f := range failed {
		var msgs []string
		for _, e := range f.Errors {
			if e.Code == "TAKEN" {
				code = providers.ErrConflict
			}
			m := e.Message
			if e.Code != "" {
				m = e.Code + ": " + m
			}
			msgs = append(msgs, m)
		}
		if i < 5 {
			parts = append(parts, f.Code+" ("+strings.Join(msgs, "; ")+")")
		}
	}
	more := ""
	if len(failed) > 5 {
		more = fmt.Sprintf(" and %d more", len(failed)-5)
	}
	return &Error{API: &providers.APIError{Code: code,
		Message: fmt.Sprintf("%s: %d of %d codes were refused: %s%s", opBulkAdd.name, len(failed), of, strings.Join(parts, ", "), more)},
		attr: "pattern"}
}

// rollback deletes the codes a failed create added and, unless the create resumed an
// earlier one, the pool's metafield.
func (p *Provider) rollback(ctx context.Context, discountID, marker string, added []string, resumed bool) error {
	if len(added) > 0 {
		if err := p.client.DeleteCodes(ctx, discountID, added); err != nil {
			return err
		}
	}
	if resumed {
		return nil
	}
	return p.client.DeleteMetafield(ctx, discountID, poolKey(marker))
}

// updatePool grows or shrinks the pool to the planned count: the first count codes drawn
// from its seed, so growing keeps the codes already given out.
func (p *Provider) updatePool(ctx context.Context, req providers.UpdateRequest) (providers.Attrs, error) {
	discountID, marker, ok := parsePoolID(req.ID)
	if !ok {
		return nil, notFound("%s is not a code pool ID", req.ID)
	}
	pl, err := p.loadPool(ctx, discountID, marker)
	if err != nil {
		return nil, err
	}
	if !pl.state.Found || pl.record == nil {
		return nil, notFound("code pool %s no longer exists in Shopify", req.ID)
	}
	n, whole, err := p.liveCount(ctx, pl, req.Prior)
	if err != nil {
		return nil, err
	}
	if err := changedSince(providers.KindCodePool, "code pool", req.ID, req.Prior, pl.record.attrs(n)); err != nil {
		return nil, err
	}
	rec := *pl.record
	want := req.Planned.Int("count")
	codes := rec.codes(want)
	if whole && want > n {
		// The pool holds its first n codes and nothing else is missing: add the next ones
		// without listing the discount's codes.
		_, err = p.fill(ctx, discountID, codes[n:], true)
	} else {
		_, err = p.fill(ctx, discountID, codes, false)
	}
	if err != nil {
		return nil, err
	}
	if extra := rec.codes(max(rec.Count, n, req.Prior.Int("count"))); int64(len(extra)) > want {
		have, err := p.present(ctx, discountID)
		if err != nil {
			return nil, err
		}
		var ids []string
		for _, c := range extra[want:] {
			if id, ok := have[strings.ToLower(c)]; ok {
				ids = append(ids, id)
			}
		}
		if err := p.client.DeleteCodes(ctx, discountID, ids); err != nil {
			return nil, err
		}
	}
	rec.Count = want
	if err := p.client.SetMetafield(ctx, discountID, poolKey(marker), rec); err != nil {
		return nil, err
	}
	return rec.attrs(want), nil
}

// deletePool deletes the pool's codes and its record; the coupon's own code stays.
func (p *Provider) deletePool(ctx context.Context, req providers.DeleteRequest) error {
	discountID, marker, ok := parsePoolID(req.ID)
	if !ok {
		return nil
	}
	pl, err := p.loadPool(ctx, discountID, marker)
	if err != nil || !pl.state.Found {
		return err // a discount gone took its codes with it
	}
	rec := recordOf(req.Prior)
	if pl.record != nil {
		rec = *pl.record
	}
	if rec.Seed != "" {
		have, err := p.present(ctx, discountID)
		if err != nil {
			return err
		}
		var ids []string
		for _, c := range rec.codes(max(rec.Count, req.Prior.Int("count"))) {
			if id, ok := have[strings.ToLower(c)]; ok {
				ids = append(ids, id)
			}
		}
		if err := p.client.DeleteCodes(ctx, discountID, ids); err != nil {
			return err
		}
	}
	if pl.record == nil {
		return nil
	}
	return p.client.DeleteMetafield(ctx, discountID, poolKey(marker))
}
