package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// musubi test exits 0 when every run passes, 1 when one fails and 2 when a test file is wrong.
func TestTestExitStatus(t *testing.T) {
	dir := t.TempDir()
	if err := copyDir(filepath.Join("..", "..", "examples", "quickstart"), dir); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("fail.test.hcl.off", `run "wrong" {
  expect {
    fired = [trigger.cart_nudge]
  }
}
`)
	write("bad.test.hcl.off", `run "typo" {
  expect {
    fird = [trigger.cart_nudge]
  }
}
`)
	cases := []struct {
		args []string
		want int
	}{
		{nil, 0},
		{[]string{"fail.test.hcl.off"}, 1},
		{[]string{"bad.test.hcl.off"}, 2},
		{[]string{"-run", "("}, 2},
	}
	t.Chdir(dir)
	for _, c := range cases {
		var out, errOut bytes.Buffer
		args := append([]string{"test"}, c.args...)
		if got := Main(args, nil, &out, &errOut); got != c.want {
			t.Errorf("musubi test %v: exit %d, want %d\n%s%s", c.args, got, c.want, out.String(), errOut.String())
		}
	}
}
