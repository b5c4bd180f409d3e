package db

import (
	"context"
	"database/sql"
	"fmt"
)

// Querier is what a query needs: a *sql.DB, a *sql.Conn and a *sql.Tx all
// satisfy it, so the same function runs on any of them.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

var (
	_ Querier = (*sql.DB)(nil)
	_ Querier = (*sql.Conn)(nil)
	_ Querier = (*sql.Tx)(nil)
)

// TxBeginner starts transactions: a *sql.DB or one *sql.Conn of it.
type TxBeginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

var (
	_ TxBeginner = (*sql.DB)(nil)
	_ TxBeginner = (*sql.Conn)(nil)
)

// Tx runs fn in a transaction on db (a pool or one connection): it commits
// when fn returns nil and rolls back otherwise (or when fn panics). On a
// write connection opened by OpenWrite the transaction is IMMEDIATE, so it
// takes the write lock at BEGIN and never fails half way for want of it.
func Tx(ctx context.Context, db TxBeginner, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	return InTx(tx, func() error { return fn(tx) }, func() error {
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit transaction: %w", err)
		}
		return nil
	})
}

// InTx is the end of Tx for a transaction tx that the caller began (with
// its own retries or statement deadlines, as the archiver does): it runs
// fn, then commit (tx.Commit, or what wraps it), and rolls tx back when
// either fails or fn panics (the panic goes on).
func InTx(tx *sql.Tx, fn, commit func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(); err != nil {
		return err
	}
	return commit()
}

// TableNames lists the database's own tables (not SQLite's internal
// sqlite_* ones), by name. Callers that interpolate a name into SQL take it
// from here, never from input.
func TableNames(ctx context.Context, q Querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM main.sqlite_schema
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	return names, nil
}
