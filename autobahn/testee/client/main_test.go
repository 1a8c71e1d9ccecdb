package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

// fakeSuite is a tiny stand-in for the suite's fuzzingserver mode: two
// cases, each sending one message and expecting it back, and the update
// call recorded.
type fakeSuite struct {
	mu      sync.Mutex
	echoed  map[string]string // case → what came back
	updated []string          // agents whose reports were updated
}

func (s *fakeSuite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := conn.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	switch r.URL.Path {
	case "/getCaseCount":
		c.Write(ctx, conn.MessageText, []byte("2"))
		c.Close(wsframe.CloseNormal, "")
	case "/runCase":
		id := r.URL.Query().Get("case")
		c.Write(ctx, conn.MessageText, []byte("case "+id))
		_, msg, err := c.Read(ctx)
		if err == nil {
			s.mu.Lock()
			s.echoed[id+"/"+r.URL.Query().Get("agent")] = string(msg)
			s.mu.Unlock()
		}
		c.Close(wsframe.CloseNormal, "")
	case "/updateReports":
		s.mu.Lock()
		s.updated = append(s.updated, r.URL.Query().Get("agent"))
		s.mu.Unlock()
		c.Close(wsframe.CloseNormal, "")
	default:
		c.Close(wsframe.ClosePolicyViolation, "unknown path")
	}
}

func TestClientRunsEveryCaseThenUpdatesReports(t *testing.T) {
	suite := &fakeSuite{echoed: map[string]string{}}
	srv := httptest.NewServer(suite)
	defer srv.Close()
	var logs bytes.Buffer
	err := run(context.Background(), conn.Dial, "ws"+strings.TrimPrefix(srv.URL, "http"), "my agent", 1, log.New(&logs, "", 0))
	require.NoError(t, err, "log:\n%s", logs.String())
	suite.mu.Lock()
	defer suite.mu.Unlock()
	require.Equal(t, map[string]string{"1/my agent": "case 1", "2/my agent": "case 2"}, suite.echoed)
	require.Equal(t, []string{"my agent"}, suite.updated)
	require.Contains(t, logs.String(), "2 cases")
}

func TestClientReportsABadCaseCount(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Write(r.Context(), conn.MessageText, []byte("many"))
		c.Close(wsframe.CloseNormal, "")
	}))
	defer srv.Close()
	err := run(context.Background(), conn.Dial, "ws"+strings.TrimPrefix(srv.URL, "http"), "a", 2, log.New(io.Discard, "", 0))
	require.ErrorContains(t, err, `bad case count "many"`)
}
