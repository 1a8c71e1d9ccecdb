package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

func TestServerEchoesOnAnyPath(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, path := range []string{"/", "/any/path?x=1"} {
		// A cross-origin browser is accepted too: the suite sends an Origin.
		c, _, err := conn.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+path, &conn.DialOptions{
			HTTPHeader: map[string][]string{"Origin": {"http://elsewhere.example"}},
			ReadLimit:  32 << 20,
		})
		require.NoError(t, err)
		big := make([]byte, 16<<20)
		for _, m := range []struct {
			typ  conn.MessageType
			data []byte
		}{{conn.MessageText, []byte("héllo")}, {conn.MessageBinary, big}} {
			go c.Write(ctx, m.typ, m.data)
			typ, got, err := c.Read(ctx)
			require.NoError(t, err)
			require.Equal(t, m.typ, typ)
			require.Equal(t, m.data, got)
		}
		require.NoError(t, c.Close(wsframe.CloseNormal, ""))
	}
}
