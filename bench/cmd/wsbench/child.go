package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// child is a server running in its own process (wsbench -serve LIB), so
// that its CPU time and memory are its own and not the load client's.
type child struct {
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr string
}

// usage is a child's resource use at one moment.
type usage struct {
	cpu        time.Duration // user + system
	rss        int64         // resident set, bytes
	heap       int64         // heap in use, bytes (gcstats only)
	stack      int64         // goroutine stacks in use, bytes (gcstats only)
	goroutines int64
}

// startChild starts the server named name and waits for its address.
func startChild(name string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve", name)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, in: in, out: bufio.NewScanner(out)}
	line, err := c.line()
	if err != nil {
		c.stop()
		return nil, err
	}
	addr, ok := strings.CutPrefix(line, "ADDR ")
	if !ok {
		c.stop()
		return nil, fmt.Errorf("server %s said %q, want ADDR", name, line)
	}
	c.addr = addr
	return c, nil
}

// line reads one line of the child's output, waiting at most 30 s.
func (c *child) line() (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		if c.out.Scan() {
			ch <- res{s: c.out.Text()}
			return
		}
		err := c.out.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		ch <- res{err: fmt.Errorf("server process output: %w", err)}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("server process did not answer within 30s")
	}
}

// usage asks the child for its CPU time and RSS; with gc, after it has
// collected garbage (for memory measurements).
func (c *child) usage(gc bool) (usage, error) {
	cmd := "stats\n"
	if gc {
		cmd = "gcstats\n"
	}
	return c.ask(cmd)
}

// trimmedUsage is usage after the child has collected garbage and given
// the freed memory back to the system (debug.FreeOSMemory): what its live
// state needs, without the free heap the runtime keeps for reuse.
func (c *child) trimmedUsage() (usage, error) { return c.ask("freestats\n") }

func (c *child) ask(cmd string) (usage, error) {
	if _, err := io.WriteString(c.in, cmd); err != nil {
		return usage{}, err
	}
	line, err := c.line()
	if err != nil {
		return usage{}, err
	}
	f := strings.Fields(line)
	if len(f) != 7 || f[0] != "STATS" {
		return usage{}, fmt.Errorf("server said %q, want STATS", line)
	}
	var v [6]int64
	for i := range v {
		if v[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return usage{}, fmt.Errorf("server said %q: %w", line, err)
		}
	}
	return usage{cpu: time.Duration(v[0] + v[1]), rss: v[2], heap: v[3], stack: v[4], goroutines: v[5]}, nil
}

// stop ends the child: closing stdin asks it to exit; it is killed if it
// has not within 5 s.
func (c *child) stop() {
	c.in.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}
