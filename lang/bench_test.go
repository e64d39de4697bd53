package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// genConfig writes a configuration of n blocks (a tenth traits, four tenths segments, two
// tenths campaigns, three tenths triggers) spread over files of about 100 blocks, in memory.
// Every block carries its own CEL expression, so n blocks mean at least n distinct ones.
func genConfig(n int) fstest.MapFS {
	fsys := fstest.MapFS{}
	var files []*strings.Builder
	file := func(i int) *strings.Builder {
		for len(files) <= i/100 {
			files = append(files, &strings.Builder{})
		}
		return files[i/100]
	}
	nTraits := max(1, n/10)
	nSegments := max(1, n*4/10)
	nCampaigns := max(1, n*2/10)
	nTriggers := max(1, n-nTraits-nSegments-nCampaigns)
	events := []string{"purchase", "vending.purchase", "order.ready_for_pickup"}
	i := 0
	for k := 0; k < nTraits; k++ {
		w := file(i)
		i++
		if k%2 == 0 {
			fmt.Fprintf(w, "trait \"t%d\" {\n  on        = %q\n  where     = \"event.total > %d && event.currency == 'JPY'\"\n  window    = \"%dd\"\n  aggregate = \"count\"\n}\n\n",
				k, events[k%len(events)], k*10, 1+k%365)
		} else {
			fmt.Fprintf(w, "trait \"t%d\" {\n  on        = %q\n  aggregate = \"sum\"\n  value     = \"event.total * %d\"\n}\n\n",
				k, events[k%len(events)], k)
		}
	}
	for k := 0; k < nSegments; k++ {
		w := file(i)
		i++
		cond := fmt.Sprintf("customer.traits.t%d >= %d && customer.consent.line", k%nTraits, k)
		if k > 0 && k%5 == 0 {
			cond = fmt.Sprintf("customer.segments.s%d || (customer.traits.t%d > %d && customer.home_city == 'city%d')", k-1, k%nTraits, k, k)
		}
		fmt.Fprintf(w, "segment \"s%d\" {\n  description = \"Segment %d\"\n  condition   = %q\n}\n\n", k, k, cond)
	}
	for k := 0; k < nCampaigns; k++ {
		w := file(i)
		i++
		fmt.Fprintf(w, `campaign "c%d" {
  coupon {
    percent   = %d
    min_total = %d
    codes {
      pattern = "C%d-######"
      count   = 100
    }
  }
  audience = segment.s%d
  channels = [provider.sandbox.ec, provider.sandbox.pos]
  message {
    via      = provider.sandbox.line
    template = "{{ customer.traits.t%d + %d }} points: {{ code }}"
  }
}

`, k, 1+k%50, k*10, k, k%nSegments, k%nTraits, k)
	}
	for k := 0; k < nTriggers; k++ {
		w := file(i)
		i++
		fmt.Fprintf(w, `trigger "g%d" {
  on        = "cart.updated"
  condition = "event.cart.total < %d && customer.traits.t%d > 0"
  cooldown  = "%dh"
  action "send" {
    via      = provider.sandbox.line
    template = "あと{{ %d - event.cart.total }}円"
  }
}

`, k, 1000+k, k%nTraits, 1+k%48, 1000+k)
	}
	for j, w := range files {
		fsys[fmt.Sprintf("gen%03d.hcl", j)] = &fstest.MapFile{Data: []byte(w.String())}
	}
	fsys["main.hcl"] = &fstest.MapFile{Data: []byte(`provider "sandbox" "ec" {
  system = "ec"
}
provider "sandbox" "pos" {
  system = "pos"
}
provider "sandbox" "line" {
  system = "messaging"
}
`)}
	return fsys
}

func TestGeneratedConfigLoads(t *testing.T) {
	fsys := genConfig(500)
	cfg, diags := Load(fsys, ".", testOptions())
	if len(diags) > 0 {
		t.Fatalf("diagnostics: %v", diags)
	}
	if got := len(cfg.Traits) + len(cfg.Segments) + len(cfg.Campaigns) + len(cfg.Triggers); got != 500 {
		t.Errorf("loaded %d blocks, want 500", got)
	}
}

func BenchmarkLoad10k(b *testing.B) {
	fsys := genConfig(10_000)
	if len(fsys) < 100 {
		b.Fatalf("only %d files", len(fsys))
	}
	b.ReportAllocs()
	for b.Loop() {
		cfg, diags := Load(fsys, ".", testOptions())
		if len(diags) > 0 {
			b.Fatalf("diagnostics: %v", diags[0])
		}
		if len(cfg.Segments) == 0 {
			b.Fatal("nothing loaded")
		}
	}
}

// BenchmarkLoad10kCached loads the same 10,000 blocks again with the CEL cache of an earlier
// load: no expression is checked again.
func BenchmarkLoad10kCached(b *testing.B) {
	fsys := genConfig(10_000)
	opts := testOptions()
	opts.CELCache = filepath.Join(b.TempDir(), "cel.cache")
	if _, diags := Load(fsys, ".", opts); len(diags) > 0 {
		b.Fatalf("diagnostics: %v", diags[0])
	}
	b.ReportAllocs()
	for b.Loop() {
		cfg, diags := Load(fsys, ".", opts)
		if len(diags) > 0 {
			b.Fatalf("diagnostics: %v", diags[0])
		}
		if len(cfg.Segments) == 0 {
			b.Fatal("nothing loaded")
		}
	}
}

func BenchmarkLoadQuickstart(b *testing.B) {
	fsys := os.DirFS("../examples/quickstart")
	b.ReportAllocs()
	for b.Loop() {
		if _, diags := Load(fsys, ".", testOptions()); len(diags) > 0 {
			b.Fatalf("diagnostics: %v", diags[0])
		}
	}
}
