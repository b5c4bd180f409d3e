package serve

import (
	"os"
	"syscall"
)

// stamp is what tells a changed keys file: size, modification time and
// inode (an editor that writes a new file and renames it over the old).
func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	s := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = int64(st.Ino)
	}
	return s, nil
}
