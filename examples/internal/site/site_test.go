package site

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/wsframe"
)

func TestRegisterAndHandler(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux)
	tests := []struct {
		method, path string
		status       int
		ctype        string
		body         []byte
	}{
		{"GET", "/site.css", 200, "text/css; charset=utf-8", css},
		{"GET", "/favicon.svg", 200, "image/svg+xml", favicon},
		{"GET", "/favicon.ico", 200, "image/svg+xml", favicon},
		{"HEAD", "/site.css", 200, "text/css; charset=utf-8", nil},
	}
	for _, tt := range tests {
		for name, h := range map[string]http.Handler{
			"Register": mux,
			"Handler":  http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { assert.True(t, Handler(w, r)) }),
		} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			assert.Equal(t, tt.status, rec.Code, "%s %s %s", name, tt.method, tt.path)
			assert.Equal(t, tt.ctype, rec.Header().Get("Content-Type"), "%s %s", name, tt.path)
			assert.Equal(t, string(tt.body), rec.Body.String(), "%s %s %s", name, tt.method, tt.path)
		}
	}
	rec := httptest.NewRecorder()
	assert.False(t, Handler(rec, httptest.NewRequest("GET", "/other.css", nil)), "not ours")
	rec = httptest.NewRecorder()
	assert.True(t, Handler(rec, httptest.NewRequest("POST", "/site.css", nil)))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

// TestConnStats: the first close frame tells the code, the reason and who
// sent it; whole data messages are counted, fragments and control frames
// are not.
func TestConnStats(t *testing.T) {
	var s connStats
	code, reason, by := s.closed()
	assert.Equal(t, wsframe.CloseAbnormal, code, "no close frame: 1006")
	assert.Equal(t, "nobody", by)
	assert.Empty(t, reason)

	s.observe(conn.Inbound, wsframe.Header{Fin: false, Opcode: wsframe.OpText}, nil)
	s.observe(conn.Inbound, wsframe.Header{Fin: true, Opcode: wsframe.OpContinuation}, nil)
	s.observe(conn.Inbound, wsframe.Header{Fin: true, Opcode: wsframe.OpPing}, nil)
	s.observe(conn.Outbound, wsframe.Header{Fin: true, Opcode: wsframe.OpBinary}, []byte{1})
	s.observe(conn.Outbound, wsframe.Header{Fin: true, Opcode: wsframe.OpPong}, nil)
	s.observe(conn.Outbound, wsframe.Header{Fin: true, Opcode: wsframe.OpClose, Length: 5}, []byte{0x03, 0xe9, 'b', 'y', 'e'})
	s.observe(conn.Inbound, wsframe.Header{Fin: true, Opcode: wsframe.OpClose, Length: 2}, []byte{0x03, 0xe8})
	assert.Equal(t, int64(1), s.in.Load())
	assert.Equal(t, int64(1), s.out.Load())
	code, reason, by = s.closed()
	assert.Equal(t, wsframe.CloseGoingAway, code)
	assert.Equal(t, "bye", reason)
	assert.Equal(t, "server", by)
}
