package lang

import (
	"io/fs"
	"os"
	"testing"
	"testing/fstest"
)

// Decoding the blocks on every core gives what decoding them one after the other gives: the
// same diagnostics in the same order, blocks and references.
func TestDecodeAllInOrder(t *testing.T) {
	gen := genConfig(600)
	gen["zz_broken.hcl"] = &fstest.MapFile{Data: []byte(cacheCases + `
segment "s3" {
  condition = "customer.traits.t1 > 'x'"
}

trigger "g5" {
  on        = "no.such.event"
  condition = "true"
}

campaign "c7" {
  coupon {
    percent = 200
  }
  channels = [provider.sandbox.nowhere]
}
`)}
	cases := map[string]fs.FS{
		"generated":     gen,
		"quickstart":    os.DirFS("../examples/quickstart"),
		"omo_audiences": os.DirFS("../examples/omo_audiences"),
	}
	defer func(n int, s bool) { decodeChunk, streamLoad = n, s }(decodeChunk, streamLoad)
	for name, fsys := range cases {
		decodeChunk, streamLoad = 1<<30, false
		serial, serialDiags := Load(fsys, ".", testOptions())
		streamLoad = true
		for _, n := range []int{1, 7, 100} {
			decodeChunk = n
			cfg, diags := Load(fsys, ".", testOptions())
			if got, want := diagLines(diags), diagLines(serialDiags); got != want {
				t.Fatalf("%s, %d blocks at a time: diagnostics\n%s\nwant\n%s", name, n, got, want)
			}
			if got, want := summarize(cfg), summarize(serial); got != want {
				t.Fatalf("%s, %d blocks at a time: configuration\n%s\nwant\n%s", name, n, got, want)
			}
			if graphText(cfg.Graph) != graphText(serial.Graph) {
				t.Fatalf("%s, %d blocks at a time: references differ", name, n)
			}
		}
	}
}
