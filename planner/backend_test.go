package planner

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/states/pgstate"
)

func loadBackend(t *testing.T, block string, env map[string]string, deferEnv bool) *lang.Config {
	t.Helper()
	cfg, diags := lang.Load(fstest.MapFS{"main.hcl": {Data: []byte("musubi {\n" + block + "\n}\n")}}, ".", lang.LoadOptions{
		DeferEnv: deferEnv, Environ: func() []string { return nil },
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return cfg
}

// The pg backend block: its settings, its refusals, and a check that needs no database.
func TestPGBackendBlock(t *testing.T) {
	env := map[string]string{"MUSUBI_PG": "postgres://musubi:secret@db.example.com/musubi"}
	cfg := loadBackend(t, `backend "pg" {
  conn_str = env("MUSUBI_PG")
  schema   = "marketing"
  name     = "production"
}`, env, false)
	b, diags := Backend(cfg, t.TempDir())
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	defer b.(*pgstate.Backend).Close()
	if want := `pg state "production" (schema marketing, database musubi on db.example.com)`; b.Describe() != want {
		t.Errorf("Describe: %q, want %q", b.Describe(), want)
	}
	// validate, without the variable: accepted, nothing opened.
	if ds := Check(context.Background(), loadBackend(t, `backend "pg" { conn_str = env("MUSUBI_PG") }`, nil, true)); len(ds) > 0 {
		t.Errorf("Check without MUSUBI_PG: %v", ds)
	}
	for block, want := range map[string]string{
		`backend "pg" { name = "production" }`:                                "the pg backend needs conn_str",
		"backend \"pg\" {\n conn_str = env(\"MUSUBI_PG\")\n table = \"x\"\n}": `the pg backend has no attribute "table"; it takes conn_str, schema and name.`,
		"backend \"pg\" {\n conn_str = env(\"MUSUBI_PG\")\n name = \"\"\n}":   "name must be a non-empty string.",
		`backend "pg" { conn_str = "postgres://musubi:secret@[::1/db" }`:      "is not a PostgreSQL connection string",
	} {
		_, ds := Backend(loadBackend(t, block, env, false), t.TempDir())
		if !ds.HasErrors() || !strings.Contains(ds.Error(), want) || strings.Contains(ds.Error(), "secret") {
			t.Errorf("%s: %v, want %q", block, ds, want)
		}
	}
}
