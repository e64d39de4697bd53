package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// Each caller gets a database of its own on one real server.
func TestDatabasesAreFreshAndReal(t *testing.T) {
	ctx := context.Background()
	a, b := DSN(t), DSN(t)
	if a == b {
		t.Fatal("two callers got the same database")
	}
	conn, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil || v == "" {
		t.Fatalf("server_version %q: %v", v, err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE x (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
}
