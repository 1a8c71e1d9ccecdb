package main

import (
	"context"
	_ "embed"
	"errors"
	"html/template"
	"net/http"
	"sync"

	"github.com/ws6455/ws6455/conn"
	"github.com/ws6455/ws6455/examples/chat/chatserver"
	"github.com/ws6455/ws6455/examples/echo/echoserver"
	"github.com/ws6455/ws6455/examples/internal/site"
	"github.com/ws6455/ws6455/examples/pong/pongserver"
)

// config configures the demo.
type config struct {
	// ChatToken is the chat room's token; the index page shows it, since
	// the demo is for trying things out on one's own machine.
	ChatToken string
	// Logf, when set, receives one line when a WebSocket opens and one
	// when it closes (see site.ConnLog), for the examples that offer an
	// AcceptHook.
	Logf func(format string, args ...any)
}

// demo is the demo server: the index page and the examples, each mounted
// under its prefix.
type demo struct {
	mux  *http.ServeMux
	cfg  config
	apps []app
	lab  bool // the protocol lab is mounted at /lab/
}

// app is an example mounted in the demo.
type app interface {
	http.Handler
	Shutdown(ctx context.Context) error
}

//go:embed index.html.tmpl
var indexSrc string

var indexTmpl = template.Must(template.New("index").Parse(indexSrc))

func newDemo(cfg config) *demo {
	if cfg.ChatToken == "" {
		cfg.ChatToken = "demo"
	}
	d := &demo{mux: http.NewServeMux(), cfg: cfg}
	var hook func(*http.Request, *conn.AcceptOptions) func(*conn.Conn)
	if cfg.Logf != nil {
		hook = (&site.ConnLog{Logf: cfg.Logf}).Hook
	}
	d.mountLab(hook)
	d.mount("/echo", echoserver.New(echoserver.Config{Compression: conn.CompressionNoContextTakeover, AcceptHook: hook}))
	d.mount("/chat", chatserver.New(chatserver.Config{Token: cfg.ChatToken, AcceptHook: hook}))
	d.mount("/pong", pongserver.New(pongserver.Config{AcceptHook: hook}))
	d.mux.HandleFunc("GET /{$}", d.serveIndex)
	site.Register(d.mux)
	return d
}

// mount serves a under prefix+"/": the example sees paths without the
// prefix, and "prefix" alone redirects to "prefix/" (the ServeMux does
// that), so that the pages' relative WebSocket URLs resolve below it.
func (d *demo) mount(prefix string, a app) {
	d.mux.Handle(prefix+"/", http.StripPrefix(prefix, a))
	d.apps = append(d.apps, a)
}

// ServeHTTP serves the index and the examples.
func (d *demo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mux.ServeHTTP(w, r)
}

func (d *demo) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	indexTmpl.Execute(w, struct {
		Host, ChatToken string
		Lab             bool
	}{r.Host, d.cfg.ChatToken, d.lab})
}

// Shutdown shuts every example down at once: their clients are closed with
// 1001 and their close handshakes awaited until ctx is done.
func (d *demo) Shutdown(ctx context.Context) error {
	errs := make([]error, len(d.apps))
	var wg sync.WaitGroup
	for i, a := range d.apps {
		wg.Go(func() { errs[i] = a.Shutdown(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
