//go:build race

package chatredis

// raceEnabled: the chat processes of the tests are built with -race too.
const raceEnabled = true
