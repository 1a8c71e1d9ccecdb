//go:build unix

package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/lab/labserver"
	"github.com/ws6455/ws6455/wsframe"
)

// TestServeCountsAndShutsDown runs the command's serve: a measurement is
// counted on the socket (serve installs the counting listener), and
// SIGTERM closes the observer socket with 1001 and makes serve return.
func TestServeCountsAndShutsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- serve(ln, labserver.New(labserver.Config{}), 10*time.Second) }()
	base := "http://" + ln.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	getJSON := func(method, url string, v any) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, url, nil)
		require.NoError(t, err)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
		if v != nil {
			require.NoError(t, json.NewDecoder(res.Body).Decode(v))
		}
	}
	var st struct{ Run string }
	getJSON("POST", base+"/measure/start?transport=poll&n=2&every=0", &st)
	getJSON("GET", base+"/measure/poll?run="+st.Run+"&after=0", nil)
	var res labserver.Result
	getJSON("GET", base+"/measure/result?run="+st.Run, &res)
	assert.Equal(t, "socket", res.Counted)
	assert.Equal(t, 1, res.Requests)
	assert.Positive(t, res.Up)

	c, _, err := conn.Dial(ctx, "ws://"+ln.Addr().String()+"/observe", nil)
	require.NoError(t, err)
	defer c.CloseNow()
	_, hello, err := c.Read(ctx) // the handler is running: the socket is in the group
	require.NoError(t, err)
	assert.Contains(t, string(hello), `"hello"`)

	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGTERM))
	_, _, err = c.Read(ctx)
	assert.Equal(t, wsframe.CloseGoingAway, conn.CloseCode(err))
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("serve did not return")
	}
}
