//go:build unix

package conn

import (
	"syscall"
	"testing"
	"time"
)

// processCPU returns the CPU time (user + system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter reports, as the metric cpu-ns/op, the CPU time the whole process
// used per iteration between its start and report. On a shared machine it
// moves much less than ns/op, which also counts the time spent waiting for
// a CPU; in the echo benchmarks it counts both ends of the connection.
type cpuMeter struct{ start time.Duration }

func startCPUMeter() cpuMeter { return cpuMeter{processCPU()} }

func (m cpuMeter) report(b *testing.B) {
	if b.N > 0 {
		b.ReportMetric(float64(processCPU()-m.start)/float64(b.N), "cpu-ns/op")
	}
}
