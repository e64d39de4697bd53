package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeScaleConfig writes a programme of n resource instances on the sandbox: n/2 campaigns,
// each with a shared-code coupon on an EC and a POS channel, 100 campaigns to a file as a
// team splitting a large programme would.
func writeScaleConfig(tb testing.TB, dir string, n int) {
	tb.Helper()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	write("providers.hcl", `provider "sandbox" "ec" {
  system = "ec"
}

provider "sandbox" "pos" {
  system = "pos"
}
`)
	var b strings.Builder
	for i := 0; i < n/2; i++ {
		fmt.Fprintf(&b, `
campaign "c%06d" {
  coupon {
    percent   = %d
    min_total = %d
    code      = "CODE%06d"
    valid {
      from  = "2027-03-01"
      until = "2027-03-31"
    }
  }
  channels = [provider.sandbox.ec, provider.sandbox.pos]
}
`, i, 5+i%20, 1000+i%50*100, i)
		if (i+1)%100 == 0 || i == n/2-1 {
			write(fmt.Sprintf("campaigns_%04d.hcl", i/100), b.String())
			b.Reset()
		}
	}
}

// cliBinary builds musubi once per test process.
func cliBinary(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "musubi")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runTimed runs the CLI as a whole process and returns its wall time and peak RSS.
func runTimed(tb testing.TB, bin, dir string, args ...string) (time.Duration, int64) {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	if err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 0 {
			tb.Fatalf("musubi %s: %v\n%s", strings.Join(args, " "), err, tail(out))
		}
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
	return elapsed, rss * 1024
}

func tail(b []byte) string {
	if len(b) > 2000 {
		return "…" + string(b[len(b)-2000:])
	}
	return string(b)
}

// BenchmarkPlanNoop measures a whole `musubi plan` process (load, refresh, diff) over an
// already applied programme, at 1,000, 10,000 and 100,000 resource instances. Set
// MUSUBI_BENCH_SIZES=1000,10000 to choose sizes.
func BenchmarkPlanNoop(b *testing.B) {
	sizes := []int{1000, 10000}
	if s := os.Getenv("MUSUBI_BENCH_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			var n int
			fmt.Sscan(f, &n)
			sizes = append(sizes, n)
		}
	}
	bin := cliBinary(b)
	for _, n := range sizes {
		// The testing package may call the function below more than once; apply only once.
		dir := b.TempDir()
		var applyTime time.Duration
		var applyRSS int64
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			if applyTime == 0 {
				writeScaleConfig(b, dir, n)
				applyTime, applyRSS = runTimed(b, bin, dir, "apply", "-auto-approve")
			}
			b.ResetTimer()
			var peak int64
			for i := 0; i < b.N; i++ {
				_, rss := runTimed(b, bin, dir, "plan", "-detailed-exitcode")
				peak = max(peak, rss)
			}
			b.StopTimer()
			// Reported after the loop: ResetTimer drops metrics reported before it.
			b.ReportMetric(applyTime.Seconds(), "apply-s")
			b.ReportMetric(float64(applyRSS)/(1<<20), "apply-MiB")
			b.ReportMetric(float64(peak)/(1<<20), "plan-MiB")
		})
	}
}

// writeConditionsConfig writes a programme of n CEL conditions, 100 blocks to a file: a tenth
// traits, four tenths segments on the traits and on each other, half triggers on the cart.
func writeConditionsConfig(tb testing.TB, dir string, n int) {
	tb.Helper()
	files := map[string]*strings.Builder{}
	file := func(i int) *strings.Builder {
		name := fmt.Sprintf("conditions_%04d.hcl", i/100)
		if files[name] == nil {
			files[name] = &strings.Builder{}
		}
		return files[name]
	}
	nTraits, nSegments := max(1, n/10), max(1, n*4/10)
	for i := 0; i < n; i++ {
		switch w := file(i); {
		case i < nTraits:
			fmt.Fprintf(w, "trait \"t%d\" {\n  on        = \"purchase\"\n  aggregate = \"sum\"\n  value     = \"event.total * %d\"\n}\n\n", i, 1+i%7)
		case i < nTraits+nSegments:
			k := i - nTraits
			fmt.Fprintf(w, "segment \"s%d\" {\n  condition = \"customer.traits.t%d >= %d && (customer.consent.line || customer.home_city == 'city%d')\"\n}\n\n",
				k, k%nTraits, k, k%50)
		default:
			k := i - nTraits - nSegments
			fmt.Fprintf(w, "trigger \"g%d\" {\n  on        = \"cart.updated\"\n  condition = \"event.cart.total < %d && customer.segments.s%d\"\n  action \"send\" {\n    via      = provider.sandbox.line\n    template = \"{{ %d - event.cart.total }} yen to go\"\n  }\n}\n\n",
				k, 1000+k, k%nSegments, 1000+k)
		}
	}
	files["providers.hcl"] = &strings.Builder{}
	files["providers.hcl"].WriteString("provider \"sandbox\" \"line\" {\n  system = \"messaging\"\n}\n")
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkValidate10k measures a whole `musubi validate` process over 10,000 CEL conditions:
// cold, with no CEL cache, and warm, with the cache of the run before.
func BenchmarkValidate10k(b *testing.B) {
	bin := cliBinary(b)
	dir := b.TempDir()
	writeConditionsConfig(b, dir, 10_000)
	cache := b.TempDir()
	for _, warm := range []bool{false, true} {
		b.Run(map[bool]string{false: "cold", true: "warm"}[warm], func(b *testing.B) {
			b.Setenv("MUSUBI_CACHE_DIR", cache)
			var peak int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if !warm {
					os.RemoveAll(cache)
				}
				b.StartTimer()
				_, rss := runTimed(b, bin, dir, "validate")
				peak = max(peak, rss)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		})
	}
}
