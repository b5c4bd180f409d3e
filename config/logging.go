package config

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"strings"
)

// ParseLevel reads logging.level: debug, info, warn (or warning) or error,
// in any case.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q: use debug, info, warn or error", s)
}

// NewLogger builds the logger the logging section asks for: its level,
// json or text, written to stderr (output "stderr" or ""), "stdout", the
// local syslog ("syslog"; when no syslog daemon listens, stderr with a
// warning), or appended to a file (any other value, created 0600).
//
// A file is opened for each record and closed after it, so that logrotate
// can move it without a restart and no descriptor is held; the returned
// Closer closes the syslog connection and is a no-op otherwise.
func NewLogger(l Logging, stderr io.Writer) (*slog.Logger, io.Closer, error) {
	return newLogger(l, stderr, func() (*syslog.Writer, error) {
		return syslog.New(syslog.LOG_INFO|syslog.LOG_DAEMON, "repops")
	})
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

func newLogger(l Logging, stderr io.Writer, dialSyslog func() (*syslog.Writer, error)) (*slog.Logger, io.Closer, error) {
	level, err := ParseLevel(l.Level)
	if err != nil {
		return nil, nil, err
	}
	format := strings.ToLower(strings.TrimSpace(l.Format))
	if format != "" && format != "json" && format != "text" {
		return nil, nil, fmt.Errorf("unknown log format %q: use json or text", l.Format)
	}
	opts := &slog.HandlerOptions{Level: level}
	newHandler := func(w io.Writer) slog.Handler {
		if format == "text" {
			return slog.NewTextHandler(w, opts)
		}
		return slog.NewJSONHandler(w, opts)
	}
	out := strings.TrimSpace(l.Output)
	switch strings.ToLower(out) {
	case "", "stderr":
		return slog.New(newHandler(stderr)), nopCloser{}, nil
	case "stdout":
		return slog.New(newHandler(os.Stdout)), nopCloser{}, nil
	case "syslog":
		w, err := dialSyslog()
		if err != nil {
			log := slog.New(newHandler(stderr))
			log.Warn("syslog is not available, logging to stderr instead", "err", err)
			return log, nopCloser{}, nil
		}
		return slog.New(&syslogHandler{w: w, newHandler: newHandler, level: level}), w, nil
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open log file %s (logging.output): %w: create its directory or choose another output", out, unwrapPathErr(err))
	}
	if err := f.Close(); err != nil {
		return nil, nil, fmt.Errorf("open log file %s (logging.output): %w", out, err)
	}
	return slog.New(newHandler(appendFile(out))), nopCloser{}, nil
}

// appendFile appends each write to the named file, opening and closing it
// every time.
type appendFile string

func (p appendFile) Write(b []byte) (int, error) {
	f, err := os.OpenFile(string(p), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// syslogHandler formats each record with the configured json or text
// handler and sends it at the syslog priority of its level.
type syslogHandler struct {
	w          *syslog.Writer
	newHandler func(io.Writer) slog.Handler
	level      slog.Level
	// wrap replays WithAttrs/WithGroup onto each record's fresh handler.
	wrap []func(slog.Handler) slog.Handler
}

func (h *syslogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	var buf bytes.Buffer
	inner := h.newHandler(&buf)
	for _, f := range h.wrap {
		inner = f(inner)
	}
	if err := inner.Handle(ctx, r); err != nil {
		return err
	}
	msg := strings.TrimRight(buf.String(), "\n")
	switch {
	case r.Level >= slog.LevelError:
		return h.w.Err(msg)
	case r.Level >= slog.LevelWarn:
		return h.w.Warning(msg)
	case r.Level >= slog.LevelInfo:
		return h.w.Info(msg)
	default:
		return h.w.Debug(msg)
	}
}

func (h *syslogHandler) with(f func(slog.Handler) slog.Handler) *syslogHandler {
	c := *h
	c.wrap = append(append([]func(slog.Handler) slog.Handler(nil), h.wrap...), f)
	return &c
}

func (h *syslogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.with(func(in slog.Handler) slog.Handler { return in.WithAttrs(attrs) })
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	return h.with(func(in slog.Handler) slog.Handler { return in.WithGroup(name) })
}
