package planner

import (
	"context"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/providers"
)

// unheld refuses the attributes a desired instance sets that its provider's kind does not
// hold, each at the attribute's place in the configuration: a `stores` on a channel that
// cannot limit a coupon to some stores, a per-customer limit on a register without one. Plan
// runs it against each started provider, and Check against the built-in providers'
// schemas, so validate and plan refuse the same things in the same words.
func unheld(d *Desired, provider string, ks providers.KindSupport) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, name := range ks.Unheld(d.Attrs) {
		block := d.Addr.Block.String()
		rng := d.Range
		if r, ok := d.AttrRange(name); ok {
			rng = r
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Provider cannot do this",
			Detail: fmt.Sprintf("%s sets %s on its %s, but provider.%s cannot express %s for a %s.",
				block, name, d.Addr.Kind, provider, name, d.Addr.Kind),
			Subject: rng.Ptr()})
	}
	return diags
}

// CheckHeld is Check, under the name it had when it checked held attributes alone.
//
// Deprecated: use Check.
func CheckHeld(ctx context.Context, cfg *lang.Config) hcl.Diagnostics { return Check(ctx, cfg) }
