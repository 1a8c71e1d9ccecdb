//go:build !unix

package conn

import "testing"

// cpuMeter reports nothing where getrusage is not available.
type cpuMeter struct{}

func startCPUMeter() cpuMeter { return cpuMeter{} }

func (cpuMeter) report(*testing.B) {}
