// Package fsutil is how repops reads and writes the small files around the
// database: config, manifests, run state, records and exports. Reading
// takes only a regular file of bounded size (a named pipe or a device in
// the path never blocks or floods); writing goes through a temp file no
// planted symlink can redirect, renamed into place once complete (see
// write.go). It is its own package, not part of config, because ops and
// runbooks use it too and neither depends on config. A live database's
// files are never handled here: only package db touches them.
package fsutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is what ReadRegularFile meets in a directory, a named
// pipe, a device or a socket.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is what ReadRegularFile meets in a file over its limit.
var ErrTooLarge = errors.New("too large")

// ReadRegularFile reads the regular file at path, of at most limit bytes.
//
// It looks before it opens: anything but a regular file (after symbolic
// links) is refused without being opened, since opening some devices does
// something (a tape rewinds, a terminal may become the controlling one)
// and opening a named pipe waits for a writer. It opens with O_NONBLOCK
// and O_NOCTTY and checks the open descriptor again, so that a pipe or a
// device put in the file's place after the look cannot block or be read
// either. It reads at most limit+1 bytes, so a file that grows, or that
// says it is empty and is not (/proc), still costs no more than that, and
// it stops when ctx ends.
//
// The errors name no path (the caller says which file it was reading):
// errors.Is matches ErrNotRegular or ErrTooLarge, or the operating
// system's error (fs.ErrNotExist, fs.ErrPermission).
func ReadRegularFile(ctx context.Context, path string, limit int64) ([]byte, error) {
	if limit < 0 {
		limit = 0
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	if err := checkRegular(st, limit); err != nil {
		return nil, err
	}
	return readOpened(ctx, path, limit)
}

// readOpened is ReadRegularFile after the look: it opens path without
// waiting (O_NONBLOCK: a named pipe swapped in meanwhile opens at once,
// with no writer) and checks the descriptor before it reads.
func readOpened(ctx context.Context, path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, unwrapPath(err)
	}
	if err := checkRegular(st, limit); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, min(st.Size(), limit)+1)
	chunk := make([]byte, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := f.Read(chunk[:min(int64(len(chunk)), limit+1-int64(len(buf)))])
		buf = append(buf, chunk[:n]...)
		if int64(len(buf)) > limit {
			return nil, fmt.Errorf("%w: more than the limit of %s", ErrTooLarge, FormatLimit(limit))
		}
		if errors.Is(err, io.EOF) || (n == 0 && err == nil) {
			return buf, nil
		}
		if err != nil {
			return nil, unwrapPath(err)
		}
	}
}

// checkRegular refuses what is not a regular file, and a regular file
// whose size is already over limit.
func checkRegular(st fs.FileInfo, limit int64) error {
	m := st.Mode()
	if !m.IsRegular() {
		return fmt.Errorf("%w: it is %s", ErrNotRegular, kindOf(m))
	}
	if st.Size() > limit {
		return fmt.Errorf("%w: %s, more than the limit of %s", ErrTooLarge, formatSize(st.Size()), FormatLimit(limit))
	}
	return nil
}

// kindOf names a file type in words.
func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	default:
		return "not a regular file (" + m.Type().String() + ")"
	}
}

// FormatLimit writes a limit as a person reads it: whole MiB or KiB when
// it is one, bytes otherwise.
func FormatLimit(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// formatSize writes a size in MiB with one decimal, or in bytes under one.
func formatSize(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

// unwrapPath drops the path an *fs.PathError adds, keeping its cause.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
