package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/repops/repops/internal/fsutil"
)

// ServiceFileName is the file, in a state dir, where 'repops demo' says
// where its simulated service listens, so that another repops (status, the
// console, the exporter) run from a second terminal finds it.
const ServiceFileName = "demo-service.json"

// ServiceInfo is the content of the service file: the simulated
// service's addresses and the pid of the process that runs it.
type ServiceInfo struct {
	MetricsURL string    `json:"metrics_url"`
	ControlURL string    `json:"control_url,omitempty"`
	Database   string    `json:"database,omitempty"`
	Pid        int       `json:"pid"`
	Started    time.Time `json:"started"`
}

// WriteServiceFile writes info into dir's service file, atomically (a
// reader sees the previous content or this one, never a part).
func WriteServiceFile(dir string, info ServiceInfo) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create the state dir %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, ServiceFileName)
	if err := fsutil.WriteAtomic(path, append(b, '\n'), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// RemoveServiceFile removes dir's service file if it names pid (a later
// demo's file is left alone).
func RemoveServiceFile(dir string, pid int) {
	path := filepath.Join(dir, ServiceFileName)
	info, err := readServiceFile(path)
	if err == nil && info.Pid == pid {
		os.Remove(path)
	}
}

// ReadServiceFile reads dir's service file. ok is false when there is
// none, it cannot be read, or its process is gone (a demo that was killed
// leaves its file behind; it names nothing that listens).
func ReadServiceFile(dir string) (info ServiceInfo, ok bool) {
	info, err := readServiceFile(filepath.Join(dir, ServiceFileName))
	if err != nil || info.Pid <= 0 || info.MetricsURL == "" || !pidAlive(info.Pid) {
		return ServiceInfo{}, false
	}
	return info, true
}

func readServiceFile(path string) (ServiceInfo, error) {
	var info ServiceInfo
	b, err := fsutil.ReadRegularFile(context.Background(), path, 64<<10)
	if err != nil {
		return info, err
	}
	if len(b) > 64<<10 {
		return info, errors.New("service file too large")
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, err
	}
	return info, nil
}

// pidAlive reports whether a process with pid exists.
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
