// Package benchutil holds what several benchmark programs share: the POST
// content they sign and the CPU accounting of their reports.
package benchutil

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// PostContent is the content of a POST message with its keys in the order
// the official SDKs write them.
type PostContent struct {
	Type    string  `json:"type"`
	Address string  `json:"address"`
	Content any     `json:"content"`
	Time    float64 `json:"time"`
}

// MachineBusy returns the CPU seconds all CPUs spent busy since boot
// (user, nice, system, irq, softirq, steal from /proc/stat).
func MachineBusy() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("unexpected /proc/stat")
	}
	var busy float64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		x, _ := strconv.ParseFloat(v, 64)
		busy += x
	}
	return busy / 100, nil // USER_HZ is 100 on Linux
}

// OwnCPU returns this process's CPU seconds, user and system (0 when
// unavailable).
func OwnCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}
