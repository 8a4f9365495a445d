package pgvector

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cobatch/cobatch/sinks"
)

func TestDatabaseNameLeavesOutThePassword(t *testing.T) {
	for url, want := range map[string]string{
		"postgres://alice:s3cret@db.example:6543/vectors?sslmode=disable&search_path=x": "alice@db.example:6543/vectors",
		"postgresql://bob:s3cret@10.0.0.1/docs":                                         "bob@10.0.0.1:5432/docs",
		"host=db.example port=5433 dbname=v user=carol password=s3cret":                 "carol@db.example:5433/v",
	} {
		got, err := DatabaseName(url)
		if err != nil || got != want {
			t.Errorf("DatabaseName(%q) = %q, %v; want %q", url, got, err, want)
		}
	}
	if _, err := DatabaseName("postgres://u:s3cret@host:notaport/db"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad URL: err %v", err)
	}
}

func TestOpenRefusesAnotherDatabase(t *testing.T) {
	_, err := open(context.Background(), sinks.Target{
		Job: "j", Op: "embed", Table: "docs", Dims: 4,
		DatabaseURL: "postgres://u:s3cret@127.0.0.1:5432/other",
		Database:    "u@127.0.0.1:5432/test",
	})
	if !errors.Is(err, sinks.ErrOtherTarget) {
		t.Fatalf("err = %v, want ErrOtherTarget", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "u@127.0.0.1:5432/test") || !strings.Contains(msg, "u@127.0.0.1:5432/other") || strings.Contains(msg, "s3cret") {
		t.Fatalf("err = %q: want both names and no password", msg)
	}
}
