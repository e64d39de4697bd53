package line

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/line/linetest"
)

// Every error and diagnostic the provider produces, in its failures, is searched for the
// channel access token and the channel secret: neither may ever appear.
func TestSecretsNeverInErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var out strings.Builder
	keep := func(ds providers.Diagnostics) {
		for _, d := range ds {
			fmt.Fprintf(&out, "%s\n%s\n%s\n", d.Summary, d.Detail, d.Attribute)
			if d.Err != nil {
				fmt.Fprintf(&out, "%s\n%+v\n", d.Err.Error(), *d.Err)
			}
		}
		if err := ds.Err(); err != nil {
			out.WriteString(err.Error() + "\n")
		}
	}
	keepErr := func(err error) {
		if err != nil {
			out.WriteString(err.Error() + "\n")
		}
	}
	exercise := func(p *Provider) {
		aud := providers.Attrs{"segment": "loyal_store", "description": "Store regulars"}
		keep(p.Create(ctx, providers.CreateRequest{Kind: providers.KindAudience, IdempotencyKey: "k", Attributes: aud}).Diagnostics)
		keep(p.Read(ctx, providers.ReadRequest{Kind: providers.KindAudience, ID: "12"}).Diagnostics)
		keep(p.Update(ctx, providers.UpdateRequest{Kind: providers.KindAudience, ID: "12", Planned: aud}).Diagnostics)
		keep(p.Delete(ctx, providers.DeleteRequest{Kind: providers.KindAudience, ID: "12"}).Diagnostics)
		sub := p.Plan(ctx, providers.PlanRequest{Kind: providers.KindSubscription, Proposed: providers.Attrs{"source": "line", "topics": []string{"follow"}}}).Planned
		keep(p.Create(ctx, providers.CreateRequest{Kind: providers.KindSubscription, IdempotencyKey: "k", Attributes: sub}).Diagnostics)
		keep(p.Read(ctx, providers.ReadRequest{Kind: providers.KindSubscription}).Diagnostics)
		keep(p.Create(ctx, providers.CreateRequest{Kind: providers.KindMessage, IdempotencyKey: "k", Attributes: providers.Attrs{"template": "x"}}).Diagnostics)
		keep(p.Import(ctx, providers.ImportRequest{Kind: providers.KindMessage, ID: "x"}).Diagnostics)
		keep(p.Send(ctx, providers.SendRequest{To: user(1), Text: "x", IdempotencyKey: "k"}).Diagnostics)
		_, err := p.Broadcast(ctx, Broadcast{To: users(2), Text: "x", IdempotencyKey: "k"})
		keepErr(err)
		keepErr(p.AddMembers(ctx, "12", users(1)))
		keep(p.ReceiveWebhook(ctx, providers.WebhookRequest{Header: http.Header{"X-Line-Signature": {"bad"}}, Body: []byte("{}")}).Diagnostics)
	}

	srv, p, _ := contract(t)
	// A token LINE refuses, whose text must not come back either.
	wrong := configure(t, srv, nil)
	wrong.token = "wrong-" + srv.Token
	exercise(wrong)
	// Every failure the platform can answer, on every operation.
	for _, status := range []int{400, 401, 403, 404, 409, 422, 429, 500, 503} {
		for _, op := range []string{linetest.OpCreate, linetest.OpRead, linetest.OpUpdate, linetest.OpDelete, linetest.OpSend, linetest.OpValidate} {
			srv.Fail(op, status, 1)
		}
		exercise(p)
	}
	// No answer at all.
	srv.Lose(linetest.OpSend, 1)
	exercise(p)
	down := linetest.NewServer()
	down.Close()
	gone := configure(t, srv, nil)
	gone.apiURL = down.URL
	exercise(gone)
	// Configuration mistakes.
	keep(New().Configure(ctx, providers.ConfigureRequest{Config: map[string]any{"channel_token": srv.Token, "channel_secret": srv.Secret,
		"api_url": "ftp://" + srv.Token, "engine_url": "http://" + srv.Secret}}).Diagnostics)

	all := out.String()
	if len(all) < 1000 {
		t.Fatalf("only %d bytes of errors were produced; the test exercises too little", len(all))
	}
	for name, secret := range map[string]string{"channel token": srv.Token, "channel secret": srv.Secret} {
		if strings.Contains(all, secret) {
			i := strings.Index(all, secret)
			t.Errorf("the %s appears in an error: …%s…", name, all[max(0, i-120):min(len(all), i+len(secret)+20)])
		}
	}
}
