package shopifytest

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	op, err := Parse(`mutation Create($input: DiscountCodeBasicInput!, $n: Int = 3) {
  created: discountCodeBasicCreate(basicCodeDiscount: $input) { codeDiscountNode { id ... on DiscountCodeNode { id } } userErrors { field } }
}`)
	if err != nil {
		t.Fatal(err)
	}
	f := op.Selection[0].Field
	if op.Type != "mutation" || op.Name != "Create" || len(op.Variables) != 2 || op.Variables[1].Default != int64(3) ||
		f.Key() != "created" || f.Name != "discountCodeBasicCreate" || f.Args["basicCodeDiscount"].Var != "input" {
		t.Fatalf("parsed %+v", op)
	}
	for _, src := range []string{
		`fragment F on Shop { name }`,
		`subscription { shop { name } }`,
		`{ shop @include(if: true) { name } }`,
		`{ shop { name } } { shop { name } }`,
		`{ shop { name }`,
		`{ a(x: "unterminated) }`,
		strings.Repeat("{ a ", 40) + strings.Repeat("}", 40),
	} {
		if _, err := Parse(src); err == nil {
			t.Errorf("accepted %q", src)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`query Q($id: ID!) { codeDiscountNode(id: $id) { id codeDiscount { __typename ... on DiscountCodeBasic { title } } } }`)
	f.Add(`{ nodes(ids: ["gid://shopify/Segment/1"]) { id } }`)
	f.Add(`mutation { tagsAdd(id: "x", tags: ["a", "b"]) { userErrors { message } } }`)
	f.Fuzz(func(t *testing.T, src string) {
		op, err := Parse(src)
		if err == nil {
			_, _ = validate(op, map[string]any{}) // must not panic either
		}
	})
}
