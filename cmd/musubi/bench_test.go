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
