//go:build !race

package chatredis

const raceEnabled = false
