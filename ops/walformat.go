package ops

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// The formats of SQLite's write-ahead log and of its wal-index (the -shm
// file), as sqlite.org/walformat.html and sqlite.org/fileformat2.html
// describe them and wal.c implements them (walIndexRecover,
// walDecodeFrame, walIndexTryHdr). They are read here, never written.
const (
	walHeaderSize      = 32
	walFrameHeaderSize = 24
	walMagic           = 0x377f0682 // | 1: big-endian checksums
	walFormatVersion   = 3007000
	// walIndexHeaderSize is the head of the -shm file: two copies of the
	// 48-byte WalIndexHdr, then the WalCkptInfo (nBackfill, five read
	// marks, the lock bytes, nBackfillAttempted, a spare word).
	walIndexHeaderSize = 136
	walIndexVersion    = 3007000
)

// walChecksum continues SQLite's WAL checksum (s1, s2) over b, whose
// length is a multiple of 8, reading its 32-bit words big-endian or
// little-endian.
func walChecksum(bigEndian bool, b []byte, s1, s2 uint32) (uint32, uint32) {
	if bigEndian {
		for ; len(b) >= 8; b = b[8:] {
			s1 += binary.BigEndian.Uint32(b) + s2
			s2 += binary.BigEndian.Uint32(b[4:]) + s1
		}
		return s1, s2
	}
	for ; len(b) >= 8; b = b[8:] {
		s1 += binary.LittleEndian.Uint32(b) + s2
		s2 += binary.LittleEndian.Uint32(b[4:]) + s1
	}
	return s1, s2
}

// nativeBigEndian reports the byte order of this machine, in which the
// wal-index is written.
func nativeBigEndian() bool { return binary.NativeEndian.Uint16([]byte{0, 1}) == 1 }

// walIndex is what the wal-index header says of the WAL at one instant:
// the last committed frame (mxFrame) and the database's size after it,
// that frame's running checksum, the WAL's salts, and how many frames
// are already copied back into the database file (nBackfill).
type walIndex struct {
	mxFrame     uint32
	nPage       uint32
	frameCksum  [2]uint32
	salt        [8]byte // as the WAL header stores them
	pageSize    int64
	bigEndCksum bool
	nBackfill   uint32
}

// parseWALIndex decodes the 136-byte head of a -shm file. Like
// walIndexTryHdr, it refuses a dirty read (the two copies differ, or the
// checksum does not match, or the header is not initialised): the caller
// reads again.
func parseWALIndex(b []byte) (walIndex, error) {
	var w walIndex
	if len(b) < walIndexHeaderSize {
		return w, fmt.Errorf("wal-index: %d bytes, want %d", len(b), walIndexHeaderSize)
	}
	if !bytes.Equal(b[0:48], b[48:96]) {
		return w, errDirtyWALIndex
	}
	ne := binary.NativeEndian
	if v := ne.Uint32(b[0:]); v != walIndexVersion {
		return w, fmt.Errorf("wal-index version %d, want %d", v, walIndexVersion)
	}
	if b[12] == 0 {
		return w, errDirtyWALIndex
	}
	s1, s2 := walChecksum(nativeBigEndian(), b[0:40], 0, 0)
	if s1 != ne.Uint32(b[40:]) || s2 != ne.Uint32(b[44:]) {
		return w, errDirtyWALIndex
	}
	w.bigEndCksum = b[13] != 0
	sz := int64(ne.Uint16(b[14:]))
	w.pageSize = sz&0xfe00 + (sz&1)<<16
	w.mxFrame = ne.Uint32(b[16:])
	w.nPage = ne.Uint32(b[20:])
	w.frameCksum = [2]uint32{ne.Uint32(b[24:]), ne.Uint32(b[28:])}
	copy(w.salt[:], b[32:40])
	w.nBackfill = ne.Uint32(b[96:])
	if w.nBackfill > w.mxFrame {
		return w, errDirtyWALIndex
	}
	return w, nil
}

var errDirtyWALIndex = errors.New("wal-index header changing (dirty read)")

// readWALIndex reads the wal-index header from fd, the -shm file, again
// while it is being rewritten (bounded: 200 tries, about 100 ms).
func readWALIndex(fd int) (walIndex, error) {
	b := make([]byte, walIndexHeaderSize)
	var err error
	for i := 0; i < 200; i++ {
		var n int
		n, err = unix.Pread(fd, b, 0)
		if err != nil {
			return walIndex{}, fmt.Errorf("read the wal-index: %w", err)
		}
		var w walIndex
		w, err = parseWALIndex(b[:n])
		if !errors.Is(err, errDirtyWALIndex) {
			return w, err
		}
		if i > 10 {
			time.Sleep(500 * time.Microsecond)
		}
	}
	return walIndex{}, fmt.Errorf("read the wal-index: %w", err)
}

// walFrameRef is one frame to apply: its number (from 1), and the
// running checksum before it and after it, so that it can be checked
// again when it is read a second time.
type walFrameRef struct {
	frame uint32
	pgno  uint32
	in    [2]uint32
	sum   [2]uint32
}

// walScan is what scanWAL found in a WAL file.
type walScan struct {
	pageSize    int64
	salt        [8]byte
	bigEndCksum bool
	valid       uint32 // frames valid in sequence from the header
	commit      uint32 // the last valid commit frame; 0 when none
	dbPages     uint32 // the database's size in pages after that commit
	// pages is the newest frame of each page up to commit.
	pages map[uint32]walFrameRef
	// cksumAt is the running checksum after frame checkAt (when valid).
	checkAt uint32
	cksumAt [2]uint32
}

// frames lists the frames to apply in the order they lie in the file.
func (s *walScan) frames() []walFrameRef {
	out := make([]walFrameRef, 0, len(s.pages))
	for _, r := range s.pages {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].frame < out[j].frame })
	return out
}

// scanWAL reads the WAL in r (size bytes) as SQLite's recovery does: a
// header with the WAL magic, format version 3007000, the database's page
// size and a valid checksum, then frames while each has the header's
// salts, a page number and a running checksum that matches; it stops at
// the first frame that does not (a torn or stale one). It keeps the
// frames up to the last commit frame: the newest of each page. checkAt,
// when not zero, is a frame whose running checksum it records.
// A WAL of no frames, or shorter than its header, is not an error: it
// holds nothing.
func scanWAL(r io.ReaderAt, size, pageSize int64, checkAt uint32) (*walScan, error) {
	s := &walScan{pageSize: pageSize, pages: map[uint32]walFrameRef{}, checkAt: checkAt}
	if size < walHeaderSize {
		return s, nil
	}
	hdr := make([]byte, walHeaderSize)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return nil, fmt.Errorf("read the WAL header: %w", err)
	}
	magic := binary.BigEndian.Uint32(hdr[0:])
	if magic&^1 != walMagic {
		return nil, fmt.Errorf("not a WAL: magic %#x", magic)
	}
	s.bigEndCksum = magic&1 == 1
	if v := binary.BigEndian.Uint32(hdr[4:]); v != walFormatVersion {
		return nil, fmt.Errorf("WAL format version %d, want %d", v, walFormatVersion)
	}
	if ps := int64(binary.BigEndian.Uint32(hdr[8:])); ps != pageSize {
		return nil, fmt.Errorf("WAL page size %d, the database's is %d", ps, pageSize)
	}
	s1, s2 := walChecksum(s.bigEndCksum, hdr[:24], 0, 0)
	if s1 != binary.BigEndian.Uint32(hdr[24:]) || s2 != binary.BigEndian.Uint32(hdr[28:]) {
		return nil, errors.New("WAL header checksum does not match")
	}
	copy(s.salt[:], hdr[16:24])

	frameSize := walFrameHeaderSize + pageSize
	br := bufio.NewReaderSize(io.NewSectionReader(r, walHeaderSize, size-walHeaderSize), 4<<20)
	buf := make([]byte, frameSize)
	pending := map[uint32]walFrameRef{} // the frames of a transaction not yet committed
	for n := uint32(1); ; n++ {
		if _, err := io.ReadFull(br, buf); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break // the end, or a frame cut short
			}
			return nil, fmt.Errorf("read WAL frame %d: %w", n, err)
		}
		if !bytes.Equal(buf[8:16], s.salt[:]) {
			break
		}
		pgno := binary.BigEndian.Uint32(buf[0:])
		if pgno == 0 {
			break
		}
		in := [2]uint32{s1, s2}
		s1, s2 = walChecksum(s.bigEndCksum, buf[:8], s1, s2)
		s1, s2 = walChecksum(s.bigEndCksum, buf[walFrameHeaderSize:], s1, s2)
		if s1 != binary.BigEndian.Uint32(buf[16:]) || s2 != binary.BigEndian.Uint32(buf[20:]) {
			break
		}
		s.valid = n
		if n == checkAt {
			s.cksumAt = [2]uint32{s1, s2}
		}
		pending[pgno] = walFrameRef{frame: n, pgno: pgno, in: in, sum: [2]uint32{s1, s2}}
		if commitSize := binary.BigEndian.Uint32(buf[4:]); commitSize != 0 {
			for p, ref := range pending {
				s.pages[p] = ref
			}
			clear(pending)
			s.commit, s.dbPages = n, commitSize
		}
	}
	return s, nil
}

// applyWAL writes the frames s kept from wal into dst, a database file
// already of the size s.dbPages pages: the newest version of each page
// up to the commit, pages beyond the database's size excepted. Each
// frame is read again and checked again (salts, page number, checksum)
// before it is written.
func applyWAL(wal io.ReaderAt, dst io.WriterAt, s *walScan) (int, error) {
	frameSize := walFrameHeaderSize + s.pageSize
	buf := make([]byte, frameSize)
	applied := 0
	for _, ref := range s.frames() {
		if ref.pgno > s.dbPages {
			continue
		}
		off := walHeaderSize + int64(ref.frame-1)*frameSize
		if _, err := wal.ReadAt(buf, off); err != nil {
			return applied, fmt.Errorf("read WAL frame %d: %w", ref.frame, err)
		}
		s1, s2 := walChecksum(s.bigEndCksum, buf[:8], ref.in[0], ref.in[1])
		s1, s2 = walChecksum(s.bigEndCksum, buf[walFrameHeaderSize:], s1, s2)
		if !bytes.Equal(buf[8:16], s.salt[:]) || binary.BigEndian.Uint32(buf[0:]) != ref.pgno ||
			s1 != ref.sum[0] || s2 != ref.sum[1] ||
			s1 != binary.BigEndian.Uint32(buf[16:]) || s2 != binary.BigEndian.Uint32(buf[20:]) {
			return applied, fmt.Errorf("WAL frame %d changed while it was read", ref.frame)
		}
		if _, err := dst.WriteAt(buf[walFrameHeaderSize:], int64(ref.pgno-1)*s.pageSize); err != nil {
			return applied, err
		}
		applied++
	}
	return applied, nil
}
