package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// write prints the report as Markdown: a machine line, then one table per
// metric. Every peer's number is followed by the ratio ours/peer in
// parentheses: below 1 means ours is lower (less CPU, lower latency, less
// memory), above 1 means ours is higher; for rates (handshakes per second,
// messages per second) higher is better, so there above 1 favours ours.
func (r *report) write(w io.Writer) {
	fmt.Fprintf(w, "Machine: %s\n\n", r.machine)
	fmt.Fprintf(w, "Run: %s, %v in all. Ratios in parentheses are ours/peer.\n\n",
		r.start.UTC().Format("2006-01-02 15:04 MST"), r.elapsed.Round(time.Second))
	if len(r.echo) > 0 {
		r.echoTable(w, "Server CPU per echoed message, µs (lower is better)", func(e echoResult) (float64, string) {
			return e.cpuPerMsg(), fmt.Sprintf("%.2f", e.cpuPerMsg())
		})
		r.echoTable(w, "Round-trip latency p50, µs (lower is better)", func(e echoResult) (float64, string) {
			v := us(percentile(e.rtts, 50))
			return v, fmt.Sprintf("%.0f", v)
		})
		r.echoTable(w, "Round-trip latency p99, µs (lower is better)", func(e echoResult) (float64, string) {
			v := us(percentile(e.rtts, 99))
			return v, fmt.Sprintf("%.0f", v)
		})
		r.echoTable(w, "Messages echoed per second, all connections (higher is better; the load client shares the 2 CPUs)", func(e echoResult) (float64, string) {
			v := float64(e.msgs) / e.wall.Seconds()
			return v, fmt.Sprintf("%.0f", v)
		})
		r.countsLine(w)
		r.loadTable(w)
	}
	if len(r.hs) > 0 {
		r.handshakeTable(w)
	}
	if len(r.idle) > 0 {
		r.idleTable(w)
	}
	if len(r.comp) > 0 {
		r.compTable(w)
	}
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// wsLibs are the libraries that speak WebSocket, in table order.
func (r *report) wsLibs() []string {
	var out []string
	for _, l := range r.opts.libs {
		if s, _ := findServer(l); s.ws {
			out = append(out, l)
		}
	}
	return out
}

func label(l string) string {
	s, _ := findServer(l)
	return s.label
}

func header(w io.Writer, first string, libs []string) {
	cols := []string{first}
	for _, l := range libs {
		cols = append(cols, label(l))
	}
	fmt.Fprintf(w, "| %s |\n| --- |%s\n", strings.Join(cols, " | "), strings.Repeat(" ---: |", len(cols)-1))
}

// echoTable prints one metric of the echo runs: a row per configuration,
// a column per library.
func (r *report) echoTable(w io.Writer, title string, metric func(echoResult) (float64, string)) {
	libs := r.echoLibs()
	fmt.Fprintf(w, "### %s\n\n", title)
	header(w, "message × connections", libs)
	for i, cfg := range r.configs() {
		cells := []string{cfg.label()}
		var ours float64
		for j, l := range libs {
			res := r.echo[l]
			if i >= len(res) || res[i].err != nil || res[i].msgs == 0 {
				cells = append(cells, "error")
				if j == 0 {
					ours = 0
				}
				continue
			}
			v, s := metric(res[i])
			if j == 0 {
				ours = v
				cells = append(cells, s)
				continue
			}
			cells = append(cells, s+ratio(ours, v))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
}

// echoLibs are the libraries with echo results, in table order: the
// WebSocket servers, then the bare TCP floor.
func (r *report) echoLibs() []string {
	var out []string
	for _, l := range r.opts.libs {
		if _, ok := r.echo[l]; ok {
			out = append(out, l)
		}
	}
	return out
}

// loadTable prints the machine's 1-minute load average at the start and
// the end of every cell, so that a cell run under other load can be told.
func (r *report) loadTable(w io.Writer) {
	libs := r.echoLibs()
	fmt.Fprintf(w, "### Other load: the machine's 1-minute load average at the start → end of each cell (2 CPUs; the cell's own client and server add up to about 2)\n\n")
	header(w, "message × connections", libs)
	for i, cfg := range r.configs() {
		cells := []string{cfg.label()}
		for _, l := range libs {
			res := r.echo[l]
			if i >= len(res) || res[i].loadBefore < 0 {
				cells = append(cells, "?")
				continue
			}
			cells = append(cells, fmt.Sprintf("%.1f → %.1f", res[i].loadBefore, res[i].loadAfter))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
}

func (r *report) configs() []echoConfig {
	for _, l := range r.echoLibs() {
		if res := r.echo[l]; len(res) > 0 {
			out := make([]echoConfig, len(res))
			for i, e := range res {
				out[i] = e.config
			}
			return out
		}
	}
	return nil
}

// countsLine says how many messages each configuration echoed, and lists
// the errors of any failed run.
func (r *report) countsLine(w io.Writer) {
	var parts []string
	for _, cfg := range r.configs() {
		parts = append(parts, fmt.Sprintf("%s: %d", cfg.label(), cfg.perConn*cfg.conns))
	}
	fmt.Fprintf(w, "Messages measured per configuration (after a warm-up): %s.\n\n", strings.Join(parts, "; "))
	for _, l := range r.echoLibs() {
		for _, e := range r.echo[l] {
			if e.err != nil {
				fmt.Fprintf(w, "- %s, %s × %d failed: %v\n", label(l), sizeLabel(e.config.size), e.config.conns, e.err)
			}
		}
	}
}

func (r *report) handshakeTable(w io.Writer) {
	libs := r.wsLibs()
	fmt.Fprintf(w, "### Opening handshakes (connect, handshake, drop; %d in flight)\n\n", r.opts.hsPar)
	header(w, "metric", libs)
	rows := []struct {
		name string
		f    func(handshakeResult) float64
		fmt  string
	}{
		{"handshakes per second (higher is better)", handshakeResult.rate, "%.0f"},
		{"server CPU per handshake, µs (lower is better)", handshakeResult.cpuPer, "%.1f"},
	}
	for _, row := range rows {
		cells := []string{row.name}
		ours := 0.0
		for j, l := range libs {
			res, ok := r.hs[l]
			if !ok || res.err != nil || res.n == 0 {
				cells = append(cells, "error")
				continue
			}
			v := row.f(res)
			s := fmt.Sprintf(row.fmt, v)
			if j == 0 {
				ours = v
				cells = append(cells, s)
				continue
			}
			cells = append(cells, s+ratio(ours, v))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	for _, l := range libs {
		if res, ok := r.hs[l]; ok && res.err != nil {
			fmt.Fprintf(w, "- %s handshakes failed: %v\n", label(l), res.err)
		}
	}
}

func (r *report) idleTable(w io.Writer) {
	fmt.Fprintf(w, "### Server memory per idle connection, %d connections (lower is better)\n\n", r.opts.idle)
	fmt.Fprintf(w, "RSS growth after garbage collection, divided by the count; heap and stacks are the Go runtime's split of it. "+
		"\"Trimmed\" is the same growth measured after debug.FreeOSMemory, without the freed heap the runtime keeps for reuse (mostly the garbage of the handshakes: behind net/http, 8 KiB of bufio buffers per hijacked connection).\n\n")
	fmt.Fprintf(w, "| server | RSS before, MiB | RSS with %d idle, MiB | KiB per connection | heap KiB/conn | stack KiB/conn | trimmed KiB/conn | goroutines | ours/this |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n", r.opts.idle)
	ours := r.idle["ours"]
	for _, l := range r.opts.libs {
		res, ok := r.idle[l]
		if !ok {
			continue
		}
		if res.err != nil {
			fmt.Fprintf(w, "| %s | error: %v | | | | | | | |\n", label(l), res.err)
			continue
		}
		rat := "—"
		if l != "ours" && ours.err == nil && ours.n > 0 {
			rat = fmt.Sprintf("%.2f", ours.perConn()/res.perConn())
		}
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f | %d | %s |\n", label(l),
			float64(res.before.rss)/(1<<20), float64(res.after.rss)/(1<<20), res.perConn()/1024,
			res.heapPerConn()/1024, res.stackPerConn()/1024, res.trimmedPerConn()/1024, res.after.goroutines, rat)
	}
	fmt.Fprintln(w)
}

func ratio(ours, peer float64) string {
	if peer == 0 || ours == 0 {
		return ""
	}
	return fmt.Sprintf(" (%.2f)", ours/peer)
}

func sizeLabel(n int) string {
	switch {
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d B", n)
	}
}
