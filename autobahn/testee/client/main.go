// Command client is the Autobahn testee client, for the suite's
// fuzzingserver mode: it asks the suite how many cases there are, runs each
// one (echoing every message the suite sends), then asks the suite to write
// its reports.
//
//	go run ./autobahn/testee/client -url ws://127.0.0.1:9001 -agent ws6455
//
// With -h2 it connects over HTTP/2 (RFC 8441, package h2): every case,
// and the control connections, are streams of one HTTP/2 connection
// (cleartext with prior knowledge for ws:// URLs).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ws6455/ws6455/autobahn/testee"
	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/h2"
	"github.com/ws6455/ws6455/wsframe"
)

func main() {
	base := flag.String("url", "ws://127.0.0.1:9001", "the suite's WebSocket URL")
	agent := flag.String("agent", "ws6455", "agent name in the reports")
	parallel := flag.Int("parallel", 1, "cases run at once (1: one after the other, as the real suite's clients do)")
	useH2 := flag.Bool("h2", false, "connect over HTTP/2 (RFC 8441 extended CONNECT, package h2): every case is a stream of one shared connection; h2c for ws:// URLs")
	flag.Parse()
	dial := conn.Dial
	if *useH2 {
		var d h2.Dialer
		dial = d.Dial
	}
	if err := run(context.Background(), dial, *base, *agent, *parallel, log.New(os.Stderr, "", 0)); err != nil {
		log.Fatal(err)
	}
}

// dialFunc opens a WebSocket: conn.Dial, or an h2.Dialer's Dial.
type dialFunc func(ctx context.Context, url string, opts *conn.DialOptions) (*conn.Conn, *http.Response, error)

// run drives the whole suite against this client, with up to parallel
// cases at once (each case is a connection of its own, or a stream of its
// own over HTTP/2, so cases that wait on the suite's timers do not hold up
// the others).
func run(ctx context.Context, dial dialFunc, base, agent string, parallel int, logger *log.Logger) error {
	n, err := caseCount(ctx, dial, base)
	if err != nil {
		return fmt.Errorf("getCaseCount: %w", err)
	}
	logger.Printf("%d cases", n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(parallel, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				u := base + "/runCase?case=" + strconv.Itoa(i) + "&agent=" + url.QueryEscape(agent)
				if err := runCase(ctx, dial, u); err != nil {
					logger.Printf("case %d: %v", i, err)
				}
			}
		}()
	}
	for i := 1; i <= n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	c, _, err := dial(ctx, base+"/updateReports?agent="+url.QueryEscape(agent), nil)
	if err != nil {
		return fmt.Errorf("updateReports: %w", err)
	}
	defer c.CloseNow()
	// The suite closes once the reports are written.
	for {
		if _, _, err := c.Read(ctx); err != nil {
			// The real suite closes with 1000 or with an empty close frame.
			if code := conn.CloseCode(err); code == wsframe.CloseNormal || code == wsframe.CloseNoStatus {
				return nil
			}
			return fmt.Errorf("updateReports: %w", err)
		}
	}
}

// caseCount reads the number of cases, sent by the suite as a text message.
func caseCount(ctx context.Context, dial dialFunc, base string) (int, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, _, err := dial(dctx, base+"/getCaseCount", nil)
	if err != nil {
		return 0, err
	}
	defer c.CloseNow()
	_, msg, err := c.Read(dctx)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(msg)))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad case count %q", msg)
	}
	c.Close(wsframe.CloseNormal, "")
	return n, nil
}

// runCase connects to one case and echoes until the suite closes. Errors
// that the case provokes on purpose end the case; they are not failures of
// the run.
func runCase(ctx context.Context, dial dialFunc, u string) error {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, _, err := dial(dctx, u, &conn.DialOptions{
		ReadLimit:   testee.ReadLimit,
		Compression: conn.CompressionContextTakeover,
	})
	cancel()
	if err != nil {
		return err
	}
	defer c.CloseNow()
	testee.Echo(ctx, c)
	return nil
}
